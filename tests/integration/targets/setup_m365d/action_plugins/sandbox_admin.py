# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only: one call to the sandbox's admin API (/_sandbox/...), made here on the controller.

The targets reset counters, inject faults and read counters hundreds of times; as `ansible.builtin.uri` each call
started a Python interpreter (about 0.4 s), here it takes milliseconds. Arguments: `path` (under the admin URL),
`method` (GET), `body` (JSON), `admin_url` and `ca_path`. Returns `status` and `json`; fails on HTTP 400 and above.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import ssl

from ansible.module_utils.six.moves.urllib.error import HTTPError
from ansible.module_utils.six.moves.urllib.request import Request, urlopen
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        body = args.get("body")
        request = Request(args["admin_url"].rstrip("/") + "/" + args["path"].lstrip("/"),
                          data=None if body is None else json.dumps(body).encode("utf-8"),
                          method=args.get("method", "GET"), headers={"Content-Type": "application/json"})
        context = ssl.create_default_context(cafile=args["ca_path"])
        try:
            with urlopen(request, context=context, timeout=60) as response:
                status, text = response.status, response.read()
        except HTTPError as exc:
            return dict(result, failed=True, status=exc.code,
                        msg="%s %s answered HTTP %s: %s" % (request.get_method(), request.full_url, exc.code,
                                                            exc.read()[:500]))
        result.update(changed=False, status=status, json=json.loads(text) if text else None)
        return result
