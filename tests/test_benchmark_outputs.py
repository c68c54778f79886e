"""Benchmarks run with another `--output` write every record of theirs under their own name."""

from benchmarks import inference_speed


def test_the_default_inference_run_keeps_its_peer_record_name():
    assert inference_speed.peer_output("inference_speed.json") == "peer_torch_glow_inference.json"


def test_another_inference_output_gets_its_own_peer_record():
    names = {
        inference_speed.peer_output(output)
        for output in ("inference_speed.json", "inference_speed_avx2.json", "other.json")
    }
    assert names == {
        "peer_torch_glow_inference.json",
        "peer_torch_glow_inference_avx2.json",
        "peer_torch_glow_inference_other.json",
    }
