"""Writes the `msg` of the task named "Report what was read" to the file $BENCH_REPORT names.

The benchmark reads (a)'s and (b)'s figures from that file. A debug task and this callback cost a few
milliseconds on the controller; the copy task used before ran two modules (stat and file, about 0.8 s) that
no user's fetch needs, and that the bare script (c) does not pay either.
"""

import json
import os

from ansible.plugins.callback import CallbackBase

REPORT_TASK = 'Report what was read'


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_report'
    CALLBACK_NEEDS_ENABLED = True

    def v2_runner_on_ok(self, result):
        path = os.environ.get('BENCH_REPORT')
        if path and result.task_name == REPORT_TASK:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, 'w', encoding='utf-8') as handle:
                json.dump(result._result['msg'], handle)  # pylint: disable=protected-access
