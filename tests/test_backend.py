"""The bundled Hugging Face training backend (logcheck train / logcheck generate)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logcheck.backends.cli import decode_prompt, worker_argv
from logcheck.backends.config import TrainConfig, build_config
from logcheck.errors import UsageError

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
TOKENIZER_DIR = SHARED / "data" / "gpt2-tokenizer"
SHAKESPEARE = SHARED / "data" / "tinyshakespeare.txt"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "hf_reference_tiny"

needs_shared = pytest.mark.skipif(
    not (TOKENIZER_DIR / "vocab.json").is_file() or not SHAKESPEARE.is_file(),
    reason="needs ../shared/data (GPT-2 tokenizer files and tiny Shakespeare)",
)


def have_training_extras() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("torch", "transformers", "accelerate"))


needs_extras = pytest.mark.skipif(not have_training_extras(), reason="needs logcheck[train]")


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, **(env or {})), timeout=timeout)


# ---------------------------------------------------------------- configuration


def test_preset_is_the_reference_configuration():
    config = build_config("shakespeare")
    assert (config.model, config.block_size, config.batch_size, config.eval_batch_size) == ("distilgpt2", 256, 4, 4)
    assert (config.epochs, config.lr, config.train_fraction, config.split_seed) == (3.0, 5e-5, 0.8, 42)
    assert (config.logging_steps, config.eval_steps, config.save_steps) == (20, 100, 200)
    assert config.load_best_model_at_end and config.metric_for_best_model == "eval_loss"
    assert config.greater_is_better is False
    assert config.fp16 is None  # decided by the device: fp16 on CUDA, fp32 on CPU


def test_flags_override_the_preset():
    config = build_config("shakespeare", epochs=1.0, lr=1e-4, batch_size=8, block_size=128, logging_steps=5,
                          eval_steps=10, save_steps=30, max_steps=50, seed=7)
    assert (config.epochs, config.lr, config.batch_size, config.eval_batch_size) == (1.0, 1e-4, 8, 8)
    assert (config.block_size, config.logging_steps, config.eval_steps, config.save_steps) == (128, 5, 10, 30)
    assert (config.max_steps, config.seed) == (50, 7)
    # a preset copy: the preset itself is unchanged
    assert build_config("shakespeare").lr == 5e-5


def test_no_save_checkpoints_turns_off_load_best():
    config = build_config("shakespeare", save_checkpoints=False)
    assert not config.save_checkpoints and not config.load_best_model_at_end


def test_save_steps_must_be_multiple_of_eval_steps_for_load_best():
    with pytest.raises(UsageError, match="--save-steps 150 is not a multiple of --eval-steps 100"):
        build_config("shakespeare", save_steps=150)
    assert build_config("shakespeare", save_steps=150, load_best=False).save_steps == 150


def test_config_json_round_trip():
    config = build_config("shakespeare", model="tiny", max_steps=3)
    assert TrainConfig.from_json(config.to_json()) == config


def test_worker_argv_passes_every_given_flag():
    argv = worker_argv({"model": "tiny", "max_steps": 4, "save_checkpoints": False, "fp16": None,
                        "bf16": None, "nproc_per_node": 2}, "shakespeare")
    assert argv == ["--preset", "shakespeare", "--resolved", "--model", "tiny", "--max-steps", "4",
                    "--no-save-checkpoints"]


def test_prompt_backslash_n_becomes_newline():
    assert decode_prompt("ROMEO:\\n") == "ROMEO:\n"
    assert decode_prompt("a\\nb\\tc") == "a\nb\tc"


# ---------------------------------------------------------------- import hygiene and one-line errors


def test_analyzer_and_backend_cli_do_not_import_torch():
    code = (
        "import sys, importlib.util\n"
        "import logcheck, logcheck.backends.cli\n"
        "if importlib.util.find_spec('logcheck.cli'):\n"
        "    from logcheck.cli import main\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "try:\n"
        "    logcheck.backends.cli.train_command(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('torch', 'transformers', 'accelerate') if m in sys.modules))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert "--max-steps" in result.stdout


@pytest.mark.parametrize("module", ["transformers", "torch"])
def test_missing_extra_is_one_line_with_pip_install(module):
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from logcheck.backends.cli import train_command\n"
        "train_command(['--model', 'tiny'])\n"
    )
    result = run_python(code)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{module} is not installed" in lines[0] and "pip install 'logcheck[train]'" in lines[0]


@needs_shared
def test_missing_extra_in_the_worker_is_one_line():
    code = (
        "import sys; sys.modules['transformers'] = None\n"
        "from logcheck.backends.shakespeare import main\n"
        f"main(['--model', 'tiny', '--resolved', '--data', {str(SHAKESPEARE)!r}, "
        f"'--tokenizer', {str(TOKENIZER_DIR)!r}, '-o', 'unused-out'])\n"
    )
    result = run_python(code)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "pip install 'logcheck[train]'" in result.stderr


def _offline_env(tmp_path: Path) -> dict[str, str]:
    return {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "LOGCHECK_CACHE_DIR": str(tmp_path / "c")}


def test_offline_with_nothing_local_names_the_flags(tmp_path):
    code = f"from logcheck.backends.cli import train_command\ntrain_command(['-o', {str(tmp_path / 'o')!r}])\n"
    result = run_python(code, env=_offline_env(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == ["logcheck: error: offline and no local copy; pass --data PATH/tinyshakespeare.txt, "
                     "--model DIR (a local copy of distilgpt2) or --model tiny"]


@needs_shared
def test_offline_tiny_model_without_tokenizer_names_tokenizer_flag(tmp_path):
    code = ("from logcheck.backends.cli import train_command\n"
            f"train_command(['--model', 'tiny', '--data', {str(SHAKESPEARE)!r}, '-o', {str(tmp_path / 'o')!r}])\n")
    result = run_python(code, env=_offline_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "logcheck: error: offline and no local copy; pass --tokenizer DIR (with vocab.json and merges.txt "
        "of distilgpt2)"]


# ---------------------------------------------------------------- the data pipeline of the reference run


@needs_shared
@needs_extras
def test_reference_data_structure():
    from logcheck.backends.shakespeare import prepare_data

    config = build_config("shakespeare", model="tiny", tokenizer=str(TOKENIZER_DIR), data=str(SHAKESPEARE))
    data = prepare_data(config)
    assert data["n_tokens"] == 338_025
    assert data["n_blocks"] == 1_320
    assert (len(data["train"]), len(data["eval"])) == (1_056, 264)
    steps_per_epoch = math.ceil(len(data["train"]) / config.batch_size)
    assert (steps_per_epoch, 3 * steps_per_epoch) == (264, 792)
    example = data["train"][0]
    assert example["input_ids"].shape == (256,) and bool((example["labels"] == example["input_ids"]).all())


# ---------------------------------------------------------------- an end-to-end run on a CPU

SMALL_RUN = ["--model", "tiny", "--max-chars", "12000", "--block-size", "64", "--batch-size", "2",
             "--max-steps", "12", "--logging-steps", "2", "--eval-steps", "4", "--save-steps", "8"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    if not (have_training_extras() and (TOKENIZER_DIR / "vocab.json").is_file() and SHAKESPEARE.is_file()):
        pytest.skip("needs logcheck[train] and ../shared/data")
    from click.testing import CliRunner

    from logcheck.backends.cli import train_command

    out = tmp_path_factory.mktemp("small_run") / "out"
    result = CliRunner().invoke(train_command, SMALL_RUN + ["--tokenizer", str(TOKENIZER_DIR), "--data",
                                                            str(SHAKESPEARE), "-o", str(out)])
    return out, result


def test_small_run_writes_trainer_outputs(small_run):
    out, result = small_run
    assert (out / "run.log").is_file(), result.output
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 12
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [2, 4, 6, 8, 10, 12]
    assert [e["step"] for e in state["log_history"] if "eval_loss" in e] == [4, 8, 12]
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-12", "checkpoint-8"]
    assert state["best_model_checkpoint"] is not None
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    config = json.loads((out / "run_config.json").read_text())
    assert (config["max_steps"], config["block_size"], config["extra"]["world_size"]) == (12, 64, 1)


def test_small_run_log_is_the_trainers_console_output(small_run):
    out, result = small_run
    log = (out / "run.log").read_bytes()
    assert log.count(b"{'loss': ") == 6
    assert log.count(b"{'eval_loss': ") == 3
    assert log.count(b"{'train_runtime': ") == 1
    assert b"\r" in log  # tqdm frames kept byte for byte
    # restoring the best checkpoint of a tied GPT-2 (transformers 5.24 still says it, with its prefix)
    assert log.count(b"There were missing keys in the checkpoint model loaded: ['lm_head.weight']") == 1
    # what the terminal saw is what the log holds (the tee)
    assert log in result.stdout_bytes


def test_small_run_ends_with_the_analysis(small_run):
    out, result = small_run
    assert (out / "report.txt").is_file()
    assert f"logcheck {out}" in result.output
    if (out / "report.json").is_file() and _pipeline_available():
        report = json.loads((out / "report.json").read_text())
        if "exit_code" in report:
            assert result.exit_code == report["exit_code"]


def _pipeline_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("logcheck.pipeline") is not None


def test_generate_samples_after_the_prompt(small_run):
    from click.testing import CliRunner

    from logcheck.backends.cli import generate_command

    out, _ = small_run
    args = [str(out), "--prompt", "ROMEO:\\n", "--max-new-tokens", "8", "--seed", "3"]
    first = CliRunner().invoke(generate_command, args)
    again = CliRunner().invoke(generate_command, args)
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("ROMEO:\n") and len(first.stdout) > len("ROMEO:\n")
    assert first.stdout == again.stdout  # --seed makes sampling reproducible


def test_perplexity_is_exp_of_the_best_eval_loss(small_run):
    from logcheck.backends.generate import eval_perplexity

    out, _ = small_run
    state = json.loads((out / "trainer_state.json").read_text())
    block = json.loads((out / "run_config.json").read_text())["block_size"]
    result = eval_perplexity(str(out))
    assert result["n_blocks"] == json.loads((out / "run_config.json").read_text())["extra"]["n_eval_blocks"]
    assert result["perplexity"] == pytest.approx(math.exp(result["eval_loss"]))
    # The saved model is the best checkpoint, scored on the same rebuilt split. transformers 5.24 divides
    # the summed token loss by all block positions, though position 0 predicts nothing (GPT-2's loss_type
    # is None, so the Trainer does not know the loss shifts labels): its eval_loss is (L-1)/L of the mean.
    assert result["eval_loss"] == pytest.approx(state["best_metric"], rel=1e-4) or result[
        "eval_loss"] * (block - 1) / block == pytest.approx(state["best_metric"], rel=1e-4)


@pytest.mark.slow
@needs_shared
@needs_extras
def test_two_process_data_parallel_run_on_cpu(tmp_path):
    from click.testing import CliRunner

    from logcheck.backends.cli import train_command

    out = tmp_path / "ddp"
    args = ["--model", "tiny", "--max-chars", "12000", "--block-size", "64", "--batch-size", "2",
            "--max-steps", "4", "--logging-steps", "2", "--eval-steps", "2", "--save-steps", "4",
            "--nproc-per-node", "2", "--tokenizer", str(TOKENIZER_DIR), "--data", str(SHAKESPEARE),
            "-o", str(out), "--no-analyze"]
    result = CliRunner().invoke(train_command, args)
    assert result.exit_code == 0, result.output[-3000:]
    config = json.loads((out / "run_config.json").read_text())
    assert config["extra"]["world_size"] == 2
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    # two ranks, one global batch of 2 x 2 blocks per step: 4 steps see 16 blocks
    n_train = config["extra"]["n_train_blocks"]
    assert state["log_history"][-1]["epoch"] == pytest.approx(4 * 2 * 2 / n_train, abs=0.01)


# ---------------------------------------------------------------- the committed reference fixture


def _fixture_state() -> dict:
    if not (FIXTURE / "trainer_state.json").is_file():
        pytest.skip("fixture not generated")
    return json.loads((FIXTURE / "trainer_state.json").read_text())


def test_fixture_has_the_reference_structure():
    state = _fixture_state()
    assert state["global_step"] == 792
    assert (state["logging_steps"], state["eval_steps"], state["save_steps"]) == (20, 100, 200)
    assert [e["step"] for e in state["log_history"] if "loss" in e] == list(range(20, 781, 20))
    evals = [e["step"] for e in state["log_history"] if "eval_loss" in e]
    assert evals[:7] == list(range(100, 701, 100)) and evals[7:] in ([], [792])
    checkpoints = sorted(int(p.name.split("-")[1]) for p in FIXTURE.glob("checkpoint-*"))
    assert checkpoints[:3] == [200, 400, 600] and checkpoints[3:] in ([], [792])
    assert state["best_model_checkpoint"].rsplit("checkpoint-", 1)[1] in {str(c) for c in checkpoints}


def test_fixture_log_matches_its_state_file():
    state = _fixture_state()
    log = (FIXTURE / "run.log").read_bytes()
    assert log.count(b"{'loss': ") == 39
    assert log.count(b"{'eval_loss': ") == sum(1 for e in state["log_history"] if "eval_loss" in e)
    assert log.count(b"{'train_runtime': ") == 1
    assert b"There were missing keys in the checkpoint model loaded: ['lm_head.weight']" in log
    config = json.loads((FIXTURE / "run_config.json").read_text())
    assert (config["extra"]["n_tokens"], config["extra"]["n_blocks"]) == (338_025, 1_320)
    assert (config["extra"]["n_train_blocks"], config["extra"]["n_eval_blocks"]) == (1_056, 264)


def test_fixture_is_small():
    if not FIXTURE.is_dir():
        pytest.skip("fixture not generated")
    assert sum(p.stat().st_size for p in FIXTURE.rglob("*") if p.is_file()) < 500_000
    assert not list(FIXTURE.rglob("*.safetensors")) and not list(FIXTURE.rglob("optimizer.pt"))
