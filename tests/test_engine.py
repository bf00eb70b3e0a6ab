"""The streaming engine on the real A0 model and real clips, under every installed runtime."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import RUNTIMES_HERE

from app.classify import classify_video
from app.cli import build_parser
from app.inference.engine import ANSWER_BLEND, ANSWER_LONGEST, StreamingClassifier
from app.inference.labels import TopK, load_labels
from app.inference.preprocess import Preprocessor
from app.inference.sampling import RateSampler
from app.settings.model import open_classifier
from app.settings.options import model_settings
from app.sources.files import read_video

EXPECTED = {
    "carving_ice_172.mp4": "carving ice",
    "carving_ice_360.mp4": "carving ice",
    "arm_wrestling.mp4": "arm wrestling",
    "cleaning_pool.mp4": "cleaning pool",
    "shooting_basketball.mp4": "shooting basketball",
    "riding_horse.gif": "riding or walking with horse",
}


def final_top(model: Path, labels_path: Path, clip: Path, runtime: str) -> tuple[str, float, int]:
    classifier = StreamingClassifier(model, runtime=runtime, threads=2)
    top_k = TopK(load_labels(labels_path, classifier.num_classes), k=5)
    results = list(classify_video(classifier, clip, top_k, fps=5.0))
    best = results[-1].top[0]
    return best.label, best.score, len(results)


@pytest.mark.parametrize("clip_name", sorted(EXPECTED))
def test_each_clip_is_recognised(a0_model, labels_path, clips, runtime, clip_name):
    """Sampled to 5 fps, every shared clip ends with its own class as top-1."""
    label, score, steps = final_top(a0_model, labels_path, clips / clip_name, runtime)
    assert label == EXPECTED[clip_name]
    if clip_name.startswith("carving_ice"):
        assert score > 0.9
    # 5 model steps per second of video, whatever the file's own rate (one either way for where the clip ends).
    times = [frame.t for frame in read_video(clips / clip_name)]
    seconds = times[-1] + (times[-1] - times[0]) / (len(times) - 1)  # to the end of the last frame
    assert abs(steps - 5 * seconds) <= 1, (steps, seconds)


@pytest.mark.skipif(
    len(RUNTIMES_HERE) < 2 or "tflite" not in RUNTIMES_HERE, reason="needs LiteRT and tflite-runtime in one environment"
)
@pytest.mark.parametrize("clip_name", ["carving_ice_360.mp4", "arm_wrestling.mp4", "riding_horse.gif"])
def test_runtimes_agree(a0_model, labels_path, clips, clip_name):
    """Every LiteRT path and tflite-runtime give the same final top-1 and the same number of steps."""
    answers = {rt: final_top(a0_model, labels_path, clips / clip_name, rt) for rt in RUNTIMES_HERE}
    tflite = answers.pop("tflite")
    assert tflite[0] == EXPECTED[clip_name]
    for litert in answers.values():
        assert litert[0] == tflite[0]
        assert litert[2] == tflite[2]
        assert litert[1] == pytest.approx(tflite[1], abs=0.1)


def clip_frames(clip: Path, size: tuple[int, int], limit: int = 12) -> list[np.ndarray]:
    sampler = RateSampler(5.0)
    preprocess = Preprocessor(*size)
    frames = [preprocess(f.image, f.order).copy() for f in read_video(clip, sampler.accept)]
    return frames[:limit]


def test_states_are_threaded_and_streams_are_reproducible(a0_model, clips, runtime):
    """Logits depend on earlier frames (states carried), and two fresh streams agree exactly."""
    classifier = StreamingClassifier(a0_model, runtime=runtime, threads=2)
    frames = clip_frames(clips / "carving_ice_360.mp4", classifier.input_size)

    first = [classifier.step(f) for f in frames]
    classifier.reset()
    second = [classifier.step(f) for f in frames]
    memoryless = []
    for f in frames:
        classifier.reset()
        memoryless.append(classifier.step(f))

    np.testing.assert_array_equal(np.array(first), np.array(second))
    # Step 1 sees no history either way; every later step must differ without states.
    np.testing.assert_array_equal(first[0], memoryless[0])
    for n in range(1, len(frames)):
        assert np.abs(first[n] - memoryless[n]).max() > 1e-3, f"step {n} ignored the stream state"


def reference_logits(model: Path, runtime: str, frames: list[np.ndarray]) -> np.ndarray:
    """The straightforward loop: the runtime's own signature runner, states passed by hand."""
    if runtime.startswith("litert"):
        from ai_edge_litert.interpreter import Interpreter
    else:
        from tflite_runtime.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(model), num_threads=2)
    runner = interpreter.get_signature_runner()
    details = runner.get_input_details()
    states = {n: np.zeros(d["shape"], d["dtype"]) for n, d in details.items() if n != "image"}
    out = []
    for frame in frames:
        result = runner(image=frame, **states)
        out.append(result.pop("logits").reshape(-1))
        states = result
    return np.array(out)


@pytest.mark.parametrize("clip_name", sorted(EXPECTED))
def test_logits_bit_identical_to_signature_runner_loop(a0_model, clips, runtime, clip_name):
    """The zero-copy state threading changes nothing: same logits, bit for bit, whole clips."""
    classifier = StreamingClassifier(a0_model, runtime=runtime, threads=2)
    frames = clip_frames(clips / clip_name, classifier.input_size, limit=1000)
    ours = np.array([classifier.step(f) for f in frames])
    np.testing.assert_array_equal(ours, reference_logits(a0_model, runtime, frames))


def test_model_facts_are_read_from_the_model(a0_model, runtime):
    classifier = StreamingClassifier(a0_model, runtime=runtime, threads=1)
    assert classifier.input_size == (172, 172)
    assert classifier.num_classes == 600
    assert len(classifier.state_names) == 43
    states = classifier.states()
    int_states = [n for n, s in states.items() if s.dtype == np.int32]
    assert len(int_states) == 16
    assert all(not s.any() for s in states.values()), "a new stream starts from zero states"


def test_bounded_context_keeps_a_long_stream_confident(a0_model, labels_path, clips):
    """Hours of camera: an unbounded stream's pooled features drift; a bounded context does not."""
    top_k = TopK(load_labels(labels_path, 600), k=1)
    frames = clip_frames(clips / "carving_ice_360.mp4", (172, 172), limit=1000)
    final = {}
    for context, answer in ((0, ANSWER_LONGEST), (50, ANSWER_LONGEST), (20, ANSWER_BLEND)):
        classifier = StreamingClassifier(a0_model, threads=2, context_steps=context, answer=answer)
        for _ in range(12):  # ~80 s of the same action
            for frame in frames:
                best = top_k(classifier.step(frame))[0]
        final[context] = best
    assert final[50].label == final[20].label == "carving ice"
    assert final[50].score > 0.8
    assert final[20].score > 0.5  # 2-4 s of history is less sure than 5-10 s, and it never drifts
    assert final[0].score < final[50].score - 0.3, "the unbounded stream should have drifted"


def test_classify_equals_a_whole_clip_stream(a0_model, labels_path, clips):
    """`classify`'s defaults (10 s, longest history) answer every step of a clip of up to
    10 s exactly as one unbroken stream would."""
    whole = StreamingClassifier(a0_model, threads=2)
    args = build_parser().parse_args(["classify", "x.mp4", "--model", str(a0_model), "--labels", str(labels_path)])
    by_classify, top_k = open_classifier(model_settings(args))
    for clip in sorted(EXPECTED):
        ours = np.array([r.logits for r in classify_video(by_classify, clips / clip, top_k, 5.0)])
        reference = np.array([r.logits for r in classify_video(whole, clips / clip, top_k, 5.0)])
        np.testing.assert_array_equal(ours, reference)


@pytest.mark.parametrize("clip_name", sorted(EXPECTED))
def test_each_clip_is_recognised_with_the_live_default(a0_model, labels_path, clips, runtime, clip_name):
    """`run`'s defaults (short context, two streams blended) still end every clip right."""
    args = build_parser().parse_args(["run", "--model", str(a0_model), "--labels", str(labels_path)])
    classifier, top_k = open_classifier(replace(model_settings(args), runtime=runtime))
    assert classifier.answer == ANSWER_BLEND
    last = list(classify_video(classifier, clips / clip_name, top_k, args.fps))[-1]
    assert last.top[0].label == EXPECTED[clip_name]
