"""Script rendering: the whole list is one `set -e` script, each command echoed as `+ cmd`."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import replace

from shipline.plan import CommandLine, PipeCall
from shipline.run.executor import StepJob, StepOutcome
from shipline.run.script import render_script, render_wrapper

MakeJob = Callable[..., StepJob]
RunJob = Callable[[StepJob], tuple[StepOutcome, str]]


def lines(*texts: str) -> tuple[CommandLine, ...]:
    return tuple(CommandLine(text, i + 1) for i, text in enumerate(texts))


def run(make_job: MakeJob, run_job: RunJob, *script: str, **kwargs: object) -> tuple[int, str]:
    outcome, output = run_job(make_job(list(script), **kwargs))
    return outcome.exit_code, output


# --- rendering ------------------------------------------------------------------------------


def test_render_simple_commands_exactly() -> None:
    assert render_script(lines("echo one", "make build")) == (
        "set -e\nprintf '%s\\n' '+ echo one'\necho one\nprintf '%s\\n' '+ make build'\nmake build\n"
    )


def test_render_without_errexit_has_no_set_e() -> None:
    assert render_script(lines("true"), errexit=False) == "printf '%s\\n' '+ true'\ntrue\n"


def test_render_groups_a_split_compound_command_under_one_echo() -> None:
    script = render_script(lines("if true; then", "echo yes", "fi", "echo after"))
    assert script == (
        "set -e\n"
        "printf '%s\\n' '+ if true; then\necho yes\nfi'\n"
        "if true; then\necho yes\nfi\n"
        "printf '%s\\n' '+ echo after'\n"
        "echo after\n"
    )


def test_render_pipe_is_an_explained_failure_on_the_shell_executor() -> None:
    pipe = PipeCall("atlassian/slack-notify:2.0.0", (("MESSAGE", "hi"),), 3)
    script = render_script((pipe,), executor="shell")
    assert "'+ pipe: atlassian/slack-notify:2.0.0'" in script
    assert "needs the Docker executor; the shell executor cannot run pipes" in script
    assert script.rstrip().endswith("exit 1")


def test_rendered_scripts_parse_with_bash() -> None:
    script = render_script(
        lines("case $X in", "a) echo a;;", "esac", "for i in 1 2; do", "echo $i", "done")
    )
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0


def test_wrapper_runs_after_script_with_exit_code() -> None:
    wrapper = render_wrapper("/m/script.sh", "/m/after.sh", "/m", "/bin/bash")
    assert wrapper.splitlines() == [
        "/bin/bash /m/script.sh",
        "code=$?",
        "printf '%s' \"$code\" > /m/exit-code",
        "export BITBUCKET_EXIT_CODE=$code",
        "printf '\\n%s\\n' \"after-script (BITBUCKET_EXIT_CODE=$code)\"",
        "/bin/bash /m/after.sh",
        "printf '%s' \"$?\" > /m/after-exit-code",
        'exit "$code"',
    ]


def test_wrapper_without_after_script() -> None:
    wrapper = render_wrapper("/m/script.sh", None, "/m", "/bin/bash")
    assert "after" not in wrapper
    assert wrapper.endswith('exit "$code"\n')


# --- behaviour in real bash -----------------------------------------------------------------


def test_each_command_is_echoed_before_its_output(make_job: MakeJob, run_job: RunJob) -> None:
    code, output = run(make_job, run_job, "echo one", "echo two >&2", "printf 'x y\\n'")
    assert code == 0
    assert output == "+ echo one\none\n+ echo two >&2\ntwo\n+ printf 'x y\\n'\nx y\n"


def test_the_list_is_one_script_sharing_state(make_job: MakeJob, run_job: RunJob) -> None:
    code, output = run(
        make_job,
        run_job,
        "mkdir -p sub && cd sub",
        "export GREETING=hello",
        "count=41",
        "echo $GREETING $((count + 1)) $(basename $PWD)",
    )
    assert code == 0
    assert output.endswith("hello 42 sub\n")


def test_if_then_fi_split_across_items(make_job: MakeJob, run_job: RunJob) -> None:
    code, output = run(
        make_job,
        run_job,
        'if [ "$MODE" = release ]; then',
        "echo releasing",
        "else",
        "echo not releasing",
        "fi",
        "echo done",
        env={"MODE": "release"},
    )
    assert code == 0
    assert output == (
        '+ if [ "$MODE" = release ]; then\necho releasing\nelse\necho not releasing\nfi\n'
        "releasing\n"
        "+ echo done\ndone\n"
    )


def test_case_esac_split_across_items(make_job: MakeJob, run_job: RunJob) -> None:
    code, output = run(
        make_job,
        run_job,
        "case $TARGET in",
        "  prod) echo production;;",
        "  *) echo other;;",
        "esac",
        env={"TARGET": "prod"},
    )
    assert code == 0
    assert output.splitlines()[-1] == "production"
    assert output.startswith("+ case $TARGET in\n")
    assert output.count("+ ") == 1


def test_for_loop_split_across_items(make_job: MakeJob, run_job: RunJob) -> None:
    code, output = run(make_job, run_job, "for n in 1 2 3; do", "echo n=$n", "done")
    assert code == 0
    assert output.splitlines()[-3:] == ["n=1", "n=2", "n=3"]


def test_multiline_literal_block_runs_every_line(make_job: MakeJob, run_job: RunJob) -> None:
    block = "echo first\nif true; then\n  echo second\nfi\ncat <<EOF\nheredoc $((1+1))\nEOF\n"
    code, output = run(make_job, run_job, block, "echo last")
    assert code == 0
    assert output == (
        "+ echo first\nif true; then\n  echo second\nfi\ncat <<EOF\nheredoc $((1+1))\nEOF\n"
        "first\nsecond\nheredoc 2\n"
        "+ echo last\nlast\n"
    )


def test_quotes_and_apostrophes(make_job: MakeJob, run_job: RunJob) -> None:
    code, output = run(make_job, run_job, 'echo "it\'s fine"', "echo 'say \"hi\"'")
    assert code == 0
    assert output == '+ echo "it\'s fine"\nit\'s fine\n+ echo \'say "hi"\'\nsay "hi"\n'


def test_a_failing_command_stops_the_script(make_job: MakeJob, run_job: RunJob) -> None:
    code, output = run(make_job, run_job, "echo before", "false", "echo after")
    assert code == 1
    assert output == "+ echo before\nbefore\n+ false\n"


def test_exit_code_is_the_real_one(make_job: MakeJob, run_job: RunJob) -> None:
    code, output = run(make_job, run_job, "echo start", "(exit 3)", "echo unreachable")
    assert code == 3
    assert "unreachable\n" not in output.replace("+ echo unreachable", "")


def test_explicit_exit(make_job: MakeJob, run_job: RunJob) -> None:
    assert run(make_job, run_job, "exit 42")[0] == 42


def test_command_not_found_is_127(make_job: MakeJob, run_job: RunJob) -> None:
    code, output = run(make_job, run_job, "no-such-command-shipline --flag", "echo after")
    assert code == 127
    assert "no-such-command-shipline: command not found" in output
    assert "+ echo after" not in output


def test_failure_inside_a_split_if_body_stops(make_job: MakeJob, run_job: RunJob) -> None:
    code, output = run(make_job, run_job, "if true; then", "false", "echo inner", "fi", "echo x")
    assert code == 1
    assert "inner\n" not in output.split("fi\n", 1)[1]


def test_failing_condition_does_not_stop(make_job: MakeJob, run_job: RunJob) -> None:
    code, output = run(make_job, run_job, "if false; then", "echo no", "fi", "echo yes")
    assert code == 0
    assert output.endswith("+ echo yes\nyes\n")


def test_pipeline_status_is_the_last_command(make_job: MakeJob, run_job: RunJob) -> None:
    code, _ = run(make_job, run_job, "false | true", "echo reached")
    assert code == 0


def test_unfinished_compound_is_a_syntax_error(make_job: MakeJob, run_job: RunJob) -> None:
    code, output = run(make_job, run_job, "echo ok", "if true; then", "echo never")
    assert code == 2
    # bash reads the script as it goes: what came before ran, the broken block never does
    assert output.startswith("+ echo ok\nok\n+ if true; then\necho never\n")
    assert output.rstrip().endswith("syntax error: unexpected end of file")
    assert "\nnever\n" not in output


def test_pipe_fails_with_an_explanation(make_job: MakeJob, run_job: RunJob) -> None:
    job = make_job(["echo before"])
    pipe = PipeCall("atlassian/aws-s3-deploy:1.1.0", (), 2)
    step = replace(job.step, script=(*job.step.script, pipe))
    outcome, output = run_job(replace(job, step=step))
    assert outcome.exit_code == 1
    assert output == (
        "+ echo before\nbefore\n+ pipe: atlassian/aws-s3-deploy:1.1.0\n"
        "error: pipe 'atlassian/aws-s3-deploy:1.1.0' needs the Docker executor; "
        "the shell executor cannot run pipes\n"
    )


# --- after-script ---------------------------------------------------------------------------


def test_after_script_runs_after_success(make_job: MakeJob, run_job: RunJob) -> None:
    outcome, output = run_job(
        make_job(["echo main"], after_script=["echo after code=$BITBUCKET_EXIT_CODE"])
    )
    assert outcome.exit_code == 0
    assert outcome.after_script_exit_code == 0
    assert outcome.passed
    assert output == (
        "+ echo main\nmain\n"
        "\nafter-script (BITBUCKET_EXIT_CODE=0)\n"
        "+ echo after code=$BITBUCKET_EXIT_CODE\nafter code=0\n"
    )


def test_after_script_runs_after_failure_with_the_real_code(
    make_job: MakeJob, run_job: RunJob
) -> None:
    outcome, output = run_job(
        make_job(["(exit 3)"], after_script=["echo code=$BITBUCKET_EXIT_CODE"])
    )
    assert outcome.exit_code == 3
    assert outcome.after_script_exit_code == 0
    assert not outcome.passed
    assert output.endswith(
        "after-script (BITBUCKET_EXIT_CODE=3)\n+ echo code=$BITBUCKET_EXIT_CODE\ncode=3\n"
    )


def test_after_script_sees_127(make_job: MakeJob, run_job: RunJob) -> None:
    outcome, output = run_job(
        make_job(["missing-tool-xyz"], after_script=["echo code=$BITBUCKET_EXIT_CODE"])
    )
    assert outcome.exit_code == 127
    assert output.endswith("code=127\n")


def test_after_script_failure_does_not_change_the_step_result(
    make_job: MakeJob, run_job: RunJob
) -> None:
    outcome, output = run_job(
        make_job(["echo ok"], after_script=["echo cleaning", "(exit 5)", "echo not reached"])
    )
    assert outcome.exit_code == 0
    assert outcome.after_script_exit_code == 5
    assert outcome.passed
    assert "cleaning\n" in output
    assert "+ echo not reached" not in output


def test_after_script_shares_the_workspace_and_environment(
    make_job: MakeJob, run_job: RunJob
) -> None:
    job = make_job(
        ["echo built > out.txt"],
        after_script=["cat out.txt", "echo $CUSTOM"],
        env={"CUSTOM": "value"},
    )
    outcome, output = run_job(job)
    assert outcome.passed
    assert output.endswith("built\n+ echo $CUSTOM\nvalue\n")


def test_no_after_script_means_no_after_code(make_job: MakeJob, run_job: RunJob) -> None:
    outcome, output = run_job(make_job(["true"]))
    assert outcome.after_script_exit_code is None
    assert "after-script" not in output


def test_exit_code_file_written(make_job: MakeJob, run_job: RunJob) -> None:
    job = make_job(["exit 7"], after_script=["exit 2"])
    outcome, _ = run_job(job)
    assert (job.dirs.meta / "exit-code").read_text() == "7"
    assert (job.dirs.meta / "after-exit-code").read_text() == "2"
    assert (outcome.exit_code, outcome.after_script_exit_code) == (7, 2)


def test_wrapper_quotes_every_path() -> None:
    wrapper = render_wrapper("/d d/script.sh", "/d d/after.sh", "/d d", "/opt/my tools/bash")
    lines = wrapper.splitlines()
    assert lines[0] == "'/opt/my tools/bash' '/d d/script.sh'"
    assert lines[2] == "printf '%s' \"$code\" > '/d d/exit-code'"
    assert lines[5] == "'/opt/my tools/bash' '/d d/after.sh'"
    assert subprocess.run(["bash", "-n"], input=wrapper, text=True, check=False).returncode == 0
