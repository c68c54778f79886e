#!/usr/bin/env bash
# Serves an export directory with TF Serving in Docker: gRPC on :8500, REST on :8501.
#   export/serving/serve.sh exports/mnist
#   export/serving/serve.sh exports/mnist --tensorflow_intra_op_parallelism=1   # single-image requests
# Arguments after EXPORT_DIR go to tensorflow_model_server as they are.
# Pin the image to the TensorFlow version that wrote the SavedModel (2.21 here) where one exists.
set -euo pipefail
export_dir="$(cd "${1:?usage: serve.sh EXPORT_DIR}" && pwd)"
config="$(cd "$(dirname "$0")" && pwd)/models.config"
exec docker run --rm -p 8500:8500 -p 8501:8501 \
  -v "${export_dir}:/models/glow:ro" \
  -v "${config}:/models/models.config:ro" \
  "${TF_SERVING_IMAGE:-tensorflow/serving}" \
  --model_config_file=/models/models.config \
  --model_config_file_poll_wait_seconds=60 \
  "${@:2}"
