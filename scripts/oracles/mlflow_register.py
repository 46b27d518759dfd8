"""Register a Hugging Face ONNX export folder with MLflow's own Python client.

Usage: mlflow_register.py TRACKING_URI MODEL_DIR NAME

TRACKING_URI is a file store (file:///...) or a tracking server (http://...);
the registry is the same store. Two versions of NAME are created, the two
ways an MLflow user would register such a model:

  version 1  the folder logged as run artifacts (mlflow.log_artifacts under
             "hf_model") and registered from their location
             (client.create_model_version(source=ARTIFACT_URI/hf_model));
             stage Staging, alias "champion".
  version 2  an mlflow.onnx flavour LoggedModel (mlflow.onnx.log_model with
             onnx/model.onnx), with config.json, tokenizer.json and
             tokenizer_config.json logged alongside as the flavour's
             extra_files, registered from models:/m-...;
             stage Production, alias "onnx".

Prints JSON: the run id, the logged model id and each version's source,
storage location and download URI as MLflow reports them.
"""

import contextlib
import json
import os
import sys

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network beyond the test's loopback server
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

import mlflow  # noqa: E402
import mlflow.onnx  # noqa: E402
import onnx  # noqa: E402

HF_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json"]


def register_run_artifacts(client, model_dir, name):
    with mlflow.start_run(run_name="hf-folder") as run:
        mlflow.log_artifacts(model_dir, artifact_path="hf_model")
    # MLflow 3's register_model wants a LoggedModel behind runs:/; plain
    # artifacts are registered by their location, as its docs show.
    client.create_registered_model(name)
    mv = client.create_model_version(name, source=f"{run.info.artifact_uri}/hf_model", run_id=run.info.run_id)
    client.transition_model_version_stage(name, mv.version, "Staging")
    client.set_registered_model_alias(name, "champion", mv.version)
    return run.info.run_id, mv


def register_onnx_flavour(client, model_dir, name):
    model = onnx.load(os.path.join(model_dir, "onnx", "model.onnx"))
    extra = [os.path.join(model_dir, f) for f in HF_FILES if os.path.exists(os.path.join(model_dir, f))]
    with mlflow.start_run(run_name="onnx-flavour"):
        info = mlflow.onnx.log_model(model, name="model", extra_files=extra)
    mv = mlflow.register_model(f"models:/{info.model_id}", name)
    client.transition_model_version_stage(name, mv.version, "Production")
    client.set_registered_model_alias(name, "onnx", mv.version)
    return info.model_id, mv


def describe(client, mv):
    return {
        "version": int(mv.version),
        "source": mv.source,
        "storage_location": getattr(mv, "storage_location", None),
        "download_uri": client.get_model_version_download_uri(mv.name, mv.version),
        "run_id": mv.run_id,
    }


def main():
    uri, model_dir, name = sys.argv[1:4]
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("registered-by-mlflow")
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    run_id, v1 = register_run_artifacts(client, model_dir, name)
    model_id, v2 = register_onnx_flavour(client, model_dir, name)
    return {
        "run_id": run_id,
        "model_id": model_id,
        "versions": [describe(client, client.get_model_version(name, v.version)) for v in (v1, v2)],
    }


if __name__ == "__main__":
    # MLflow's fluent API prints run links on stdout: keep stdout for the JSON.
    with contextlib.redirect_stdout(sys.stderr):
        result = main()
    print(json.dumps(result, indent=1, sort_keys=True))
