"""A gRPC client for an exported tfglow model served by TF Serving (`tensorflow-serving-api`).

The request is built from the SavedModel's own signature defs, so the input names, dtypes and
shapes always match the exported version:

    python -m export.grpc_client --saved_model_dir exports/mnist/1 --signature sample_seeded \
        --batch_size 4 --temperature 0.7 --dry_run
    python -m export.grpc_client --saved_model_dir exports/mnist/1 --signature log_prob \
        --images images.npy --server localhost:8500

Without `--images` / `--z` the inputs are generated: random uint8 images, N(0, T²) latents,
temperatures `--temperature`, seeds 0, 1, …, labels `--label`. `--dry_run` prints the
`PredictRequest` instead of sending it.
"""

import argparse
import os
import sys

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import predict_pb2

SERVE_TAG = "serve"


def signature_defs(saved_model_dir: str) -> dict[str, meta_graph_pb2.SignatureDef]:
    """The signature defs of the `serve` MetaGraph in `saved_model_dir/saved_model.pb`."""
    path = os.path.join(saved_model_dir, "saved_model.pb")
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"no SavedModel at {saved_model_dir} (missing {path})")
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as file:
        saved_model.ParseFromString(file.read())
    for meta_graph in saved_model.meta_graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            return {
                name: signature
                for name, signature in meta_graph.signature_def.items()
                if not name.startswith("__")
            }
    raise ValueError(f"the SavedModel at {saved_model_dir} has no MetaGraph tagged {SERVE_TAG!r}")


def example_inputs(
    signature: meta_graph_pb2.SignatureDef,
    batch_size: int,
    temperature: float = 0.7,
    label: int = 0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Valid inputs for `signature` with `batch_size` rows (see the module docstring)."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, info in signature.inputs.items():
        shape = [batch_size, *(dim.size for dim in info.tensor_shape.dim[1:])]
        if name == "images":
            inputs[name] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        elif name == "z":
            inputs[name] = (temperature * rng.standard_normal(shape)).astype(np.float32)
        elif name == "temperature":
            inputs[name] = np.full(shape, temperature, np.float32)
        elif name == "seed":
            inputs[name] = np.arange(batch_size, dtype=np.int64)
        elif name == "labels":
            inputs[name] = np.full(shape, label, np.int32)
        else:
            raise ValueError(f"no example value for input {name!r} of this signature")
    return inputs


def build_predict_request(
    signature_name: str,
    signature: meta_graph_pb2.SignatureDef,
    inputs: dict[str, np.ndarray],
    model_name: str = "glow",
) -> predict_pb2.PredictRequest:
    """A `PredictRequest` for `signature_name`, its inputs cast to the signature's dtypes.

    Raises `ValueError` if `inputs` lack a signature input, have an unknown one, or have a shape
    the signature does not accept (its -1 dimensions accept any size).
    """
    expected = set(signature.inputs)
    if set(inputs) != expected:
        raise ValueError(
            f"signature {signature_name!r} takes inputs {sorted(expected)}, got {sorted(inputs)}"
        )
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, info in signature.inputs.items():
        dtype = tf.dtypes.as_dtype(info.dtype)
        value = np.asarray(inputs[name])
        spec = tf.TensorShape(
            [dim.size if dim.size >= 0 else None for dim in info.tensor_shape.dim]
            if not info.tensor_shape.unknown_rank
            else None
        )
        if not spec.is_compatible_with(value.shape):
            raise ValueError(
                f"input {name!r} of signature {signature_name!r} must have shape "
                f"{spec}, got {value.shape}"
            )
        request.inputs[name].CopyFrom(
            tf.make_tensor_proto(value.astype(dtype.as_numpy_dtype), dtype=dtype)
        )
    return request


def send(request: predict_pb2.PredictRequest, server: str, timeout: float = 30.0):
    """Sends `request` to the TF Serving gRPC endpoint `server` (`host:port`); returns the
    response."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(server) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return stub.Predict(request, timeout=timeout)


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--saved_model_dir",
        required=True,
        help="one exported version, e.g. exports/mnist/1 (for its signature defs)",
    )
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--model_name", default="glow", help="the name in models.config")
    parser.add_argument("--server", default="localhost:8500")
    parser.add_argument("--batch_size", type=int, default=2)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--label", type=int, default=0)
    parser.add_argument("--images", help=".npy file of uint8 images [batch, H, W, C]")
    parser.add_argument("--z", help=".npy file of latents [batch, D]")
    parser.add_argument("--dry_run", action="store_true", help="print the request, do not send it")
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse_args(argv)
    signatures = signature_defs(args.saved_model_dir)
    if args.signature not in signatures:
        raise SystemExit(
            f"unknown signature {args.signature!r}; the model has {sorted(signatures)}"
        )
    signature = signatures[args.signature]
    given = {
        name: np.load(path)
        for name, path in (("images", args.images), ("z", args.z))
        if path and name in signature.inputs
    }
    batch_size = len(next(iter(given.values()))) if given else args.batch_size
    inputs = {**example_inputs(signature, batch_size, args.temperature, args.label), **given}
    request = build_predict_request(args.signature, signature, inputs, args.model_name)
    if args.dry_run:
        print(request)
        return
    import grpc

    try:
        response = send(request, args.server)
    except grpc.RpcError as error:
        raise SystemExit(
            f"TF Serving at {args.server} answered {error.code().name}: {error.details()}"
        ) from error
    for name, proto in sorted(response.outputs.items()):
        value = tf.make_ndarray(proto)
        print(f"{name}: dtype {value.dtype}, shape {value.shape}")
        print(value if value.size <= 64 else value.reshape(len(value), -1)[:, :8])


if __name__ == "__main__":
    main(sys.argv[1:])
