#!/usr/bin/env bash
# REST requests to a served tfglow model (export/serving/serve.sh). Run one at a time, or all:
#   export/serving/rest_examples.sh [host:port]
# Every request names its signature; "instances" is the row format (one object per batch row, all
# inputs with the same batch size), "inputs" the columnar format (one array per input).
set -euo pipefail
server="${1:-localhost:8501}"
url="http://${server}/v1/models/glow"

# The signatures, their inputs and outputs, as the server sees them.
curl -s "${url}/metadata"

# sample_seeded: one image per row, reproducible; row format.
curl -s -X POST "${url}:predict" -d '{
  "signature_name": "sample_seeded",
  "instances": [{"temperature": 0.7, "seed": 1}, {"temperature": 0.7, "seed": 2}]
}'

# sample: fresh random images at three temperatures; columnar format.
curl -s -X POST "${url}:predict" -d '{
  "signature_name": "sample",
  "inputs": {"temperature": [0.5, 0.7, 1.0]}
}'

# encode (and log_prob, the same input): uint8 images [batch, 28, 28, 1] as nested lists; here one
# all-black MNIST-sized image built with Python. The response holds "z" and "z_level_<i>".
python3 -c 'import json; print(json.dumps({"signature_name": "encode",
    "instances": [{"images": [[[0]] * 28] * 28}]}))' |
  curl -s -X POST "${url}:predict" -d @-

# log_prob, also the default signature (no signature_name): "log_prob" in nats, "bits_per_dim".
python3 -c 'import json; print(json.dumps({"inputs": {"images": [[[[0]] * 28] * 28]}}))' |
  curl -s -X POST "${url}:predict" -d @-

# decode: latents [batch, 784] back to images; the zero latent is the mode of the model.
python3 -c 'import json; print(json.dumps({"signature_name": "decode",
    "inputs": {"z": [[0.0] * 784]}}))' |
  curl -s -X POST "${url}:predict" -d @-

# A bad request fails with the reason: HTTP 400, {"error": "... temperature must be >= 0 ..."}.
curl -s -X POST "${url}:predict" -d '{"signature_name": "sample", "inputs": {"temperature": [-1.0]}}'
