"""``--format json``: the versioned document other tools rely on (schema_version 1)."""
from __future__ import annotations

import json

from logcheck import OutputFormat, hookimpl


class JsonFormat(OutputFormat):
    name = "json"
    description = "versioned JSON document (schema_version 1)"

    def render(self, report, settings) -> str:
        return json.dumps(report.to_json(), indent=2, allow_nan=False, ensure_ascii=False)


@hookimpl
def logcheck_register_formats(register):
    register(JsonFormat())
