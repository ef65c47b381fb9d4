"""logcheck-perplexity: reports eval perplexity (exp of the eval loss) and gates on it.

A complete third-party plugin: one rule, one check, one output format, found by logcheck
through the ``logcheck`` entry point declared in pyproject.toml.
"""
from __future__ import annotations

import json
import math

from logcheck import CheckResult, Finding, OutputFormat, Param, Rule, Severity, Status, hookimpl

RULE = Rule(
    code="PPL001",
    name="eval-perplexity-above-limit",
    check="perplexity",
    severity=Severity.warning,
    summary="Final eval perplexity (exp of eval loss) is above the configured limit.",
    doc="""
## What it does
Computes eval perplexity, `exp(eval_loss)`, at every evaluation, reports the final and best values,
and fires when the final perplexity is above `max_perplexity`.

## Why is this bad
Perplexity is the figure language-model people compare; a limit on it is an easy quality gate.

## Example
```toml
[tool.logcheck.params.PPL001]
max_perplexity = 40.0
```

## How to fix
Train longer, lower the learning rate, or check the data; or raise the limit if it was too strict.
""",
    params={"max_perplexity": Param(default=1000.0, doc="highest acceptable final eval perplexity")},
)


@hookimpl
def logcheck_register_rules(register):
    register(RULE)


@hookimpl
def logcheck_check(run, settings):
    ev = run.eval_loss
    if ev is None:
        return CheckResult(check="perplexity", status=Status.skip, reason="no eval loss logged")
    finite = [(float(s), float(v)) for s, v in zip(ev.step, ev.value) if math.isfinite(v)]
    if not finite:
        return CheckResult(check="perplexity", status=Status.skip, reason="no finite eval loss")
    step, last = finite[-1]
    best_step, best = min(finite, key=lambda p: p[1])
    ppl, best_ppl = math.exp(min(last, 700)), math.exp(min(best, 700))
    limit = settings.param("PPL001", "max_perplexity")
    findings = []
    if ppl > limit:
        findings.append(Finding(
            code="PPL001",
            message=f"final eval perplexity {ppl:.2f} (step {step:g}) is above the limit {limit:g}",
            hint="train longer or lower the learning rate; or raise max_perplexity",
            step=step, evidence={"perplexity": ppl, "limit": limit},
        ))
    return CheckResult(
        check="perplexity",
        status=Status.warn if findings else Status.pass_,
        reason=f"eval perplexity {ppl:.2f} at step {step:g} (best {best_ppl:.2f} at step {best_step:g})",
        findings=findings,
        facts={"final_perplexity": ppl, "best_perplexity": best_ppl},
    )


class PerplexityFormat(OutputFormat):
    name = "perplexity"
    description = "one JSON line per run: path and eval perplexity"

    def render(self, report, settings) -> str:
        lines = []
        for rr in report.runs:
            res = rr.result("perplexity")
            lines.append(json.dumps({"path": rr.run.path, **(res.facts if res else {})}))
        return "\n".join(lines)


@hookimpl
def logcheck_register_formats(register):
    register(PerplexityFormat())
