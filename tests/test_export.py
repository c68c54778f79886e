"""Export: the SavedModel's signatures, run in a fresh process that imports neither tfglow nor TFP.

The model is exported once per module; one subprocess loads it with plain TensorFlow (and Keras 3's
`TFSMLayer`), runs every signature and every bad request, and saves what it saw for the tests below
to compare with the in-memory model.
"""

import functools
import json
import os
import subprocess
import sys
import textwrap
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from export import grpc_client
from tests import flow_testing
from tfglow import GlowConfig, export_saved_model

CONFIG = GlowConfig.preset("tiny")
# Far enough from the identity to be a generic map; at 0.1 the tiny model's latents reach |z| ~ 1e4
# and no float32 implementation inverts it exactly.
RANDOMIZE_STDDEV = 0.05
_SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
SIGNATURES = {"serving_default", "log_prob", "encode", "decode", "sample", "sample_seeded"}

FRESH_PROCESS_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf

    def foreign_modules():
        return sorted(name for name in sys.modules
                      if name.split(".")[0] in ("tfglow", "tensorflow_probability"))

    path, inputs_path, arrays_path, report_path = sys.argv[1:]
    inputs = dict(np.load(inputs_path))
    signatures = tf.saved_model.load(path).signatures
    arrays, errors = {}, {}

    def run(key, name, **kwargs):
        outputs = signatures[name](**{k: tf.constant(v) for k, v in kwargs.items()})
        for output, value in outputs.items():
            arrays[f"{key}/{output}"] = value.numpy()
        return outputs

    images = inputs["images"]
    encoded = run("encode", "encode", images=images)
    run("decode", "decode", z=encoded["z"].numpy())
    for batch in (1, 7):
        run(f"log_prob_{batch}", "log_prob", images=images[:batch])
    run("serving_default", "serving_default", images=images)
    for attempt in ("a", "b"):
        run(f"sample_t1_{attempt}", "sample", temperature=np.ones([3], np.float32))
        run(f"sample_t0_{attempt}", "sample", temperature=np.zeros([3], np.float32))
        run(f"seeded_{attempt}", "sample_seeded", temperature=inputs["temperature"],
            seed=inputs["seed"])
    run("seeded_alone", "sample_seeded", temperature=inputs["temperature"][-1:],
        seed=inputs["seed"][-1:])

    bad_requests = {
        "image_size": ("encode", dict(images=np.zeros([2, 9, 8, 1], np.uint8))),
        "image_channels": ("log_prob", dict(images=np.zeros([2, 8, 8, 3], np.uint8))),
        "image_dtype": ("log_prob", dict(images=np.zeros([2, 8, 8, 1], np.float32))),
        "latent_length": ("decode", dict(z=np.zeros([2, 63], np.float32))),
        "latent_nan": ("decode", dict(z=np.full([2, 64], np.nan, np.float32))),
        "latent_inf": ("decode", dict(z=np.full([2, 64], np.inf, np.float32))),
        "temperature_negative": ("sample", dict(temperature=np.float32([0.5, -1.0]))),
        "temperature_nan": ("sample", dict(temperature=np.float32([np.nan]))),
        "seed_count": ("sample_seeded", dict(temperature=np.float32([1.0]),
                                             seed=np.int64([1, 2]))),
        "image_rank_3": ("log_prob", dict(images=np.zeros([8, 8, 1], np.uint8))),
        "image_rank_5": ("encode", dict(images=np.zeros([1, 2, 8, 8, 1], np.uint8))),
        "latent_rank_1": ("decode", dict(z=np.zeros([64], np.float32))),
        "latent_rank_3": ("decode", dict(z=np.zeros([2, 64, 1], np.float32))),
        "temperature_rank_0": ("sample", dict(temperature=np.float32(0.7))),
        "temperature_rank_2": ("sample_seeded", dict(temperature=np.float32([[0.7]]),
                                                     seed=np.int64([1]))),
        "seed_rank_0": ("sample_seeded", dict(temperature=np.float32([1.0]), seed=np.int64(1))),
        "seed_rank_2": ("sample_seeded", dict(temperature=np.float32([1.0]),
                                              seed=np.int64([[1]]))),
    }
    for key, (name, kwargs) in bad_requests.items():
        try:
            signatures[name](**{k: tf.constant(v) for k, v in kwargs.items()})
            errors[key] = "NO ERROR"
        except Exception as error:
            errors[key] = f"{type(error).__name__}: {error}"
    modules_after_tensorflow = foreign_modules()

    import keras
    layer = keras.layers.TFSMLayer(path, call_endpoint="log_prob")
    arrays["keras/log_prob"] = np.asarray(layer(images)["log_prob"])
    np.savez(arrays_path, **arrays)
    with open(report_path, "w") as file:
        json.dump({"signatures": sorted(signatures), "errors": errors,
                   "modules_after_tensorflow": modules_after_tensorflow,
                   "modules_after_keras": foreign_modules()}, file)
""")


_images = functools.partial(flow_testing.random_pixels, batch=7, shape=CONFIG.image_shape)


_randomized_model = functools.partial(
    flow_testing.randomized_model, stddev=RANDOMIZE_STDDEV, batch=16
)


def _pure_environment():
    """The environment of a process that can import neither tfglow nor the tests."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return environment


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = _randomized_model(CONFIG)
    export_dir = tmp_path_factory.mktemp("export")
    tf.random.set_seed(1234)  # as training scripts do; the exported random ops must not replay it
    path = export_saved_model(model, str(export_dir))
    return model, path


@pytest.fixture(scope="module")
def fresh_process(exported, tmp_path_factory):
    """What a process without tfglow or TFP saw when it ran the SavedModel: (arrays, report)."""
    _, path = exported
    work = tmp_path_factory.mktemp("fresh_process")
    inputs = {
        "images": _images(),
        "temperature": np.float32([0.7, 0.7, 1.0]),
        "seed": np.int64([3, 3, 4]),
    }
    np.savez(work / "inputs.npz", **inputs)
    command = [
        sys.executable,
        "-c",
        FRESH_PROCESS_SCRIPT,
        path,
        str(work / "inputs.npz"),
        str(work / "arrays.npz"),
        str(work / "report.json"),
    ]
    result = subprocess.run(
        command, cwd=work, env=_pure_environment(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    arrays = dict(np.load(work / "arrays.npz"))
    with open(work / "report.json") as file:
        return arrays, json.load(file), inputs


def test_export_writes_version_1_in_an_empty_directory(exported):
    _, path = exported
    assert os.path.basename(path) == "1"
    assert tf.io.gfile.exists(os.path.join(path, "saved_model.pb"))
    assert sorted(os.listdir(os.path.dirname(path))) == ["1"]  # no staging directory left behind


def test_a_fresh_process_runs_every_signature_without_tfglow_or_tfp(fresh_process):
    _, report, _ = fresh_process
    assert set(report["signatures"]) == SIGNATURES
    assert report["modules_after_tensorflow"] == []
    assert report["modules_after_keras"] == []


def test_decode_of_encode_returns_the_same_uint8_images(fresh_process):
    arrays, _, inputs = fresh_process
    assert arrays["decode/images"].dtype == np.uint8
    np.testing.assert_array_equal(arrays["decode/images"], inputs["images"])


def test_encode_equals_the_in_memory_latent_and_its_levels(exported, fresh_process):
    model, _ = exported
    arrays, _, inputs = fresh_process
    z = arrays["encode/z"]
    np.testing.assert_allclose(z, model.encode(inputs["images"]), rtol=1e-5, atol=1e-5)
    levels = [arrays[f"encode/z_level_{level}"] for level in range(CONFIG.num_levels)]
    assert [level.shape[1:] for level in levels] == CONFIG.latent_shapes
    flat = np.concatenate([level.reshape(len(level), -1) for level in levels], axis=1)
    np.testing.assert_array_equal(flat, z)


def test_decode_gives_the_in_memory_continuous_images(exported, fresh_process):
    model, _ = exported
    arrays, _, _ = fresh_process
    np.testing.assert_allclose(
        arrays["decode/flow_images"], model.decode_to_flow(arrays["encode/z"]), atol=1e-5
    )


@pytest.mark.parametrize("batch", [1, 7])
def test_log_prob_equals_the_in_memory_model(exported, fresh_process, batch):
    model, _ = exported
    arrays, _, inputs = fresh_process
    images = inputs["images"][:batch]
    np.testing.assert_allclose(
        arrays[f"log_prob_{batch}/log_prob"], model.log_prob(images), rtol=1e-5
    )
    np.testing.assert_allclose(
        arrays[f"log_prob_{batch}/bits_per_dim"],
        model.bits_per_dim(images, dequantize=False),
        rtol=1e-5,
    )


def test_serving_default_and_keras_tfsm_layer_give_log_prob(fresh_process):
    arrays, _, _ = fresh_process
    np.testing.assert_array_equal(arrays["serving_default/log_prob"], arrays["log_prob_7/log_prob"])
    np.testing.assert_allclose(arrays["keras/log_prob"], arrays["log_prob_7/log_prob"], rtol=1e-6)


def test_sample_at_temperature_zero_is_the_decoded_zero_latent(exported, fresh_process):
    model, _ = exported
    arrays, _, _ = fresh_process
    np.testing.assert_array_equal(arrays["sample_t0_a/images"], arrays["sample_t0_b/images"])
    np.testing.assert_array_equal(
        arrays["sample_t0_a/images"], model.decode(np.zeros([3, CONFIG.event_size], np.float32))
    )


def test_unseeded_samples_differ_between_requests(fresh_process):
    arrays, _, _ = fresh_process
    assert np.any(arrays["sample_t1_a/images"] != arrays["sample_t1_b/images"])


def test_unseeded_samples_are_not_replayed_after_a_reload(exported, fresh_process):
    # A load is a server (re)start. With only the op seeds fixed at export, the first request
    # after every load would draw the same images as the fresh process's first one.
    _, path = exported
    arrays, _, _ = fresh_process
    first = tf.saved_model.load(path).signatures["sample"](temperature=tf.ones([3]))["images"]
    assert np.any(first.numpy() != arrays["sample_t1_a/images"])


def test_seeded_samples_are_reproducible_row_by_row(exported, fresh_process):
    model, _ = exported
    arrays, _, inputs = fresh_process
    seeded = arrays["seeded_a/images"]
    np.testing.assert_array_equal(seeded, arrays["seeded_b/images"])
    np.testing.assert_array_equal(seeded[0], seeded[1])  # same seed and temperature
    assert np.any(seeded[1] != seeded[2])
    np.testing.assert_array_equal(arrays["seeded_alone/images"][0], seeded[2])
    for row, (temperature, seed) in enumerate(zip(inputs["temperature"], inputs["seed"])):
        expected = model.sample(1, float(temperature), seed=int(seed))
        np.testing.assert_array_equal(seeded[row], expected[0])


@pytest.mark.parametrize(
    "request_name, reason",
    [
        ("image_size", "images must have shape [batch, 8, 8, 1]"),
        ("image_channels", "images must have shape [batch, 8, 8, 1]"),
        ("image_dtype", "expected to be a uint8 tensor"),
        ("latent_length", "z must have shape [batch, 64]"),
        ("latent_nan", "z must be finite, got NaN or infinity"),
        ("latent_inf", "z must be finite, got NaN or infinity"),
        ("temperature_negative", "temperature must be finite and >= 0"),
        ("temperature_nan", "temperature must be finite and >= 0, got NaN or infinity"),
        ("seed_count", "seed must have one entry per row of temperature"),
        (
            "image_rank_3",
            "images must have shape [batch, 8, 8, 1] (height, width, channels)] "
            "[got shape] [8 8 1]",
        ),
        ("image_rank_5", "images must have shape [batch, 8, 8, 1]"),
        ("latent_rank_1", "z must have shape [batch, 64]] [got shape] [64]"),
        ("latent_rank_3", "z must have shape [batch, 64]] [got shape] [2 64 1]"),
        ("temperature_rank_0", "temperature must have shape [batch]] [got shape] []"),
        ("temperature_rank_2", "temperature must have shape [batch]] [got shape] [1 1]"),
        ("seed_rank_0", "seed must have shape [batch]] [got shape] []"),
        ("seed_rank_2", "seed must have shape [batch]] [got shape] [1 1]"),
    ],
)
def test_bad_requests_fail_and_say_why(fresh_process, request_name, reason):
    _, report, _ = fresh_process
    error = report["errors"][request_name]
    assert error.startswith("InvalidArgumentError"), error
    assert reason in error, error


def test_saved_model_cli_runs_a_signature(exported, tmp_path):
    model, path = exported
    images = _images(batch=3)
    np.save(tmp_path / "images.npy", images)
    ran = subprocess.run(
        [
            _SAVED_MODEL_CLI,
            "run",
            "--dir",
            path,
            "--tag_set",
            "serve",
            "--signature_def",
            "log_prob",
            "--inputs",
            f"images={tmp_path / 'images.npy'}",
            "--outdir",
            str(tmp_path / "out"),
        ],
        env=_pure_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    np.testing.assert_allclose(
        np.load(tmp_path / "out" / "bits_per_dim.npy"),
        model.bits_per_dim(images, dequantize=False),
        rtol=1e-5,
    )


@pytest.mark.slow
def test_saved_model_cli_shows_every_signature_as_a_predict_method(exported):
    _, path = exported
    shown = subprocess.run(
        [_SAVED_MODEL_CLI, "show", "--all", "--dir", path],
        env=_pure_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr[-3000:]
    for name in SIGNATURES:
        section = shown.stdout.split(f"signature_def['{name}']:")[1].split("signature_def[")[0]
        assert "Method name is: tensorflow/serving/predict" in section, section


# ---- the gRPC client ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported[1])


def test_signature_defs_are_predict_methods_with_a_dynamic_batch(exported):
    signatures = grpc_client.signature_defs(exported[1])
    assert set(signatures) == SIGNATURES
    for name, signature in signatures.items():
        assert signature.method_name == "tensorflow/serving/predict", name
        for tensor in [*signature.inputs.values(), *signature.outputs.values()]:
            assert tensor.tensor_shape.dim[0].size == -1, (name, tensor)
    z_shape = [dim.size for dim in signatures["encode"].outputs["z"].tensor_shape.dim]
    assert z_shape == [-1, CONFIG.event_size]


@pytest.mark.parametrize("signature_name", sorted(SIGNATURES))
def test_grpc_client_builds_a_request_the_signature_accepts(exported, loaded, signature_name):
    signature = grpc_client.signature_defs(exported[1])[signature_name]
    inputs = grpc_client.example_inputs(signature, batch_size=3)
    request = grpc_client.build_predict_request(signature_name, signature, inputs, "glow")
    parsed = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    assert parsed.model_spec.name == "glow"
    assert parsed.model_spec.signature_name == signature_name
    assert set(parsed.inputs) == set(signature.inputs)
    tensors = {}
    for name, proto in parsed.inputs.items():
        assert proto.dtype == signature.inputs[name].dtype, name
        tensors[name] = tf.constant(tf.make_ndarray(proto))
        np.testing.assert_array_equal(tensors[name], inputs[name])
    # What TF Serving would do with the request: feed its tensors to the signature.
    outputs = loaded.signatures[signature_name](**tensors)
    assert set(outputs) == set(signature.outputs)
    assert all(len(value) == 3 for value in outputs.values())


def test_grpc_client_rejects_inputs_that_do_not_fit_the_signature(exported):
    signature = grpc_client.signature_defs(exported[1])["decode"]
    with pytest.raises(ValueError, match=r"takes inputs \['z'\], got \['images'\]"):
        grpc_client.build_predict_request("decode", signature, {"images": np.zeros([1, 8, 8, 1])})
    with pytest.raises(ValueError, match=r"input 'z' of signature 'decode' must have shape"):
        grpc_client.build_predict_request("decode", signature, {"z": np.zeros([1, 63])})


class _SignatureServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """A stand-in for TF Serving's Predict: runs the request on the loaded signature."""

    def __init__(self, signatures):
        self.signatures = signatures

    def Predict(self, request, context):  # noqa: N802 (the gRPC method name)
        function = self.signatures[request.model_spec.signature_name]
        inputs = {
            name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()
        }
        response = predict_pb2.PredictResponse()
        for name, value in function(**inputs).items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
        return response


def test_grpc_client_sends_the_request_and_reads_the_response(exported, loaded):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        _SignatureServicer(loaded.signatures), server
    )
    port = server.add_insecure_port("localhost:0")
    server.start()
    try:
        signature = grpc_client.signature_defs(exported[1])["encode"]
        images = _images(batch=2)
        request = grpc_client.build_predict_request("encode", signature, {"images": images})
        response = grpc_client.send(request, f"localhost:{port}", timeout=60)
    finally:
        server.stop(None)
    model, _ = exported
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["z"]), model.encode(images), rtol=1e-5, atol=1e-5
    )


def test_grpc_client_dry_run_prints_the_request(exported, capsys):
    grpc_client.main(
        [
            "--saved_model_dir",
            exported[1],
            "--signature",
            "sample_seeded",
            "--batch_size",
            "2",
            "--temperature",
            "0.5",
            "--dry_run",
        ]
    )
    printed = capsys.readouterr().out
    request = text_format.Parse(printed, predict_pb2.PredictRequest())
    assert request.model_spec.signature_name == "sample_seeded"
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["temperature"]), [0.5, 0.5])
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["seed"]), [0, 1])
