"""Read a run and a registered model with MLflow's own Python client.

Usage: mlflow_read.py TRACKING_URI REGISTRY_URI RUN_ID MODEL_NAME ALIAS...

TRACKING_URI / REGISTRY_URI: a file store (file:///...) or a tracking server
(http://...). Prints JSON with what mlflow.MlflowClient returns: the run's
info, params, tags, latest metrics, every metric's history, its artifacts
(listed recursively, each file's size and content as UTF-8 text) and the
registered model's versions (stage, source, status, run id, aliases,
download URI), its latest version per stage and the given aliases.
MODEL_NAME "-" skips the registry.
"""

import contextlib
import json
import os
import sys
import tempfile

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network beyond the test's loopback server
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow  # noqa: E402


def run_info(run):
    i = run.info
    return {
        "run_id": i.run_id,
        "run_name": i.run_name,
        "experiment_id": i.experiment_id,
        "status": i.status,
        "start_time": i.start_time,
        "end_time": i.end_time,
        "artifact_uri": i.artifact_uri,
        "lifecycle_stage": i.lifecycle_stage,
        "user_id": i.user_id,
    }


def histories(client, run):
    return {
        key: [{"timestamp": m.timestamp, "value": m.value, "step": m.step}
              for m in client.get_metric_history(run.info.run_id, key)]
        for key in run.data.metrics
    }


def artifacts(client, run_id, path=None):
    out = {}
    for f in client.list_artifacts(run_id, path):
        if f.is_dir:
            out.update(artifacts(client, run_id, f.path))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            local = client.download_artifacts(run_id, f.path, tmp)
            with open(local, "rb") as fh:
                content = fh.read().decode("utf-8", "replace")
        out[f.path] = {"size": f.file_size, "content": content}
    return out


def version(client, mv):
    return {
        "version": int(mv.version),
        "current_stage": mv.current_stage,
        "source": mv.source,
        "status": mv.status,
        "run_id": mv.run_id or "",
        "aliases": sorted(mv.aliases),
        "download_uri": client.get_model_version_download_uri(mv.name, mv.version),
    }


def registry(client, name, aliases):
    model = client.get_registered_model(name)
    versions = client.search_model_versions(f"name='{name}'")
    latest = {}
    for stage in ["None", "Staging", "Production", "Archived"]:
        found = client.get_latest_versions(name, stages=[stage])
        if found:
            latest[stage] = int(found[0].version)
    return {
        "name": model.name,
        "aliases": {a: int(client.get_model_version_by_alias(name, a).version) for a in aliases},
        "versions": sorted((version(client, v) for v in versions), key=lambda v: v["version"]),
        "latest": latest,
    }


def main():
    tracking_uri, registry_uri, run_id, name, *aliases = sys.argv[1:]
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    mlflow.set_tracking_uri(tracking_uri)  # the file registry looks logged models up here
    run = client.get_run(run_id)
    out = {
        "info": run_info(run),
        "params": run.data.params,
        "tags": run.data.tags,
        "metrics": run.data.metrics,
        "history": histories(client, run),
        "artifacts": artifacts(client, run_id),
        "experiment_name": client.get_experiment(run.info.experiment_id).name,
    }
    if name != "-":
        out["registry"] = registry(client, name, aliases)
    return out


if __name__ == "__main__":
    # MLflow's fluent API prints run links on stdout: keep stdout for the JSON.
    with contextlib.redirect_stdout(sys.stderr):
        result = main()
    print(json.dumps(result, indent=1, sort_keys=True))
