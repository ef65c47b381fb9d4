"""liveness: in ``--follow`` mode, a log that stopped growing for longer than the stall timeout.

The follow loop puts ``{"stalled_for_s": ..., "timeout_s": ..., "size": ...}`` in
``settings.plugin_options["follow_stall"]``; outside follow mode this check says nothing.
"""
from __future__ import annotations

from logcheck import CheckResult, Finding, Param, Rule, Severity, Status, hookimpl

RULE = Rule(
    code="LIV001",
    name="log-stalled",
    check="liveness",
    severity=Severity.error,
    summary="A followed log has not grown for longer than the stall timeout.",
    doc="""
## What it does
In `logcheck --follow run.log --stall-timeout SECONDS`, fires when the log has not grown for longer
than the timeout while the run has not ended.

## Why is this bad
A training process that stops writing is usually hung: a deadlocked collective (NCCL), a dead
dataloader worker, a full disk. It keeps its GPUs busy doing nothing until someone notices.

## Example
```
logcheck --follow run.log --stall-timeout 900   # fail after 15 minutes without a new line
```

## How to fix
Look at the last lines of the log and at the process (py-spy dump, nvidia-smi). Set the timeout
above the longest quiet phase the job has (evaluation, checkpoint saving).
""",
    params={},
)


@hookimpl
def logcheck_register_rules(register):
    register(RULE)


@hookimpl
def logcheck_check(run, settings):
    stall = settings.plugin_options.get("follow_stall")
    if not stall:
        return None
    if run.ending.value in ("completed", "crashed"):
        return CheckResult(check="liveness", status=Status.pass_, reason=f"the run has {run.ending.value}")
    f = Finding(
        code="LIV001",
        message=(f"the log has not grown for {stall['stalled_for_s']:.0f} s (timeout {stall['timeout_s']:.0f} s) "
                 f"at {stall['size']:,} bytes; last step seen {run.summary.global_step or '?'}"),
        hint="check whether the process is hung (py-spy dump, nvidia-smi); raise --stall-timeout if the quiet phase is expected",
        evidence=dict(stall),
    )
    return CheckResult(check="liveness", status=Status.fail, reason="log stalled", findings=[f])
