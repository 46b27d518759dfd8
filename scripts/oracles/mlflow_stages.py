"""Model version stages as MLflow's own client sees them.

Usage: mlflow_stages.py read REGISTRY_DIR NAME
       mlflow_stages.py reference NAME OPS_JSON

read: opens a registry written by our code (a file store) with
mlflow.MlflowClient and prints {"stages": {version: stage}, "latest": {stage:
version}}. reference: performs OPS_JSON ([["register"], ["transition", V,
STAGE, ARCHIVE_EXISTING], ...]) with MLflow's own client on a registry of its
own in a temporary file store, and prints the same, so a test can compare our
stage transitions with MLflow's.
"""

import contextlib
import json
import os
import sys
import tempfile

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow  # noqa: E402


def stages(client, name):
    versions = client.search_model_versions(f"name='{name}'")
    latest = {}
    for stage in ["None", "Staging", "Production", "Archived"]:
        found = client.get_latest_versions(name, stages=[stage])
        if found:
            latest[stage] = int(found[0].version)
    return {"stages": {str(int(v.version)): v.current_stage for v in versions}, "latest": latest}


def client_for(uri):
    # Without a tracking URI set first, MLflow opens its default store, an
    # mlflow.db in the working folder (the test's package folder).
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def main():
    if sys.argv[1] == "read":
        root, name = sys.argv[2], sys.argv[3]
        return stages(client_for("file://" + os.path.abspath(root)), name)
    name, ops = sys.argv[2], json.loads(sys.argv[3])
    with tempfile.TemporaryDirectory() as tmp:
        uri = "file://" + tmp
        client = client_for(uri)
        client.create_registered_model(name)
        for op in ops:
            if op[0] == "register":
                client.create_model_version(name, source=uri + "/model")
            else:
                _, v, stage, archive = op
                client.transition_model_version_stage(name, str(v), stage, archive_existing_versions=archive)
        return stages(client, name)


if __name__ == "__main__":
    with contextlib.redirect_stdout(sys.stderr):
        result = main()
    print(json.dumps(result, sort_keys=True))
