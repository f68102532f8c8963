#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: hunting_query
short_description: Run an advanced hunting query (KQL) in Microsoft Defender XDR
version_added: 1.0.0
description:
  - Runs a Kusto (KQL) advanced hunting query and returns its schema and rows.
  - On Graph it calls C(runHuntingQuery), on the Defender API C(advancedhunting/run), which also returns
    query statistics.
  - Microsoft is retiring the Defender API's hunting endpoint (Message Center MC1220762; retirement began in
    January 2026). With O(api=defender) the task warns, naming Graph's C(runHuntingQuery) as the replacement.
  - Microsoft limits hunting to about 45 calls a minute per tenant, 3 minutes per query, 100,000 rows and
    30 days of data. The module paces itself below the per-minute limit and retries throttled calls.
author:
  - secops.m365_defender contributors (@secops)
options:
  query:
    description:
      - The KQL query.
    type: str
    required: true
  timespan:
    description:
      - Graph only. The time range the query looks at, as Graph takes it - an ISO-8601 duration back from now such
        as V(P7D), V(PT12H) or V(P1M); a start time such as V(2026-11-01T00:00:00Z) (until now); or an interval
        V(start/end), V(start/duration) or V(duration/end). Microsoft's default is 30 days.
      - Checked before any request; anything else fails the task.
      - On the Defender API, filter on C(Timestamp) in the query instead.
    type: str
extends_documentation_fragment:
  - secops.m365_defender.auth
  - secops.m365_defender.auth.NO_DEVICE_CODE
  - secops.m365_defender.auth.ATTRIBUTES
  - secops.m365_defender.auth.READ_ONLY
notes:
  - A query can run for up to 3 minutes; raise O(timeout) above its default for heavy queries.
"""

EXAMPLES = r"""
- name: High-severity alerts of the last week, by service
  secops.m365_defender.hunting_query:
    auth: "{{ graph_token.auth }}"
    query: |
      AlertInfo
      | where Severity == "High"
      | summarize count() by ServiceSource
    timespan: P7D
  register: by_service

- name: Processes that ran a suspicious file, on the legacy API
  secops.m365_defender.hunting_query:
    api: defender
    auth: "{{ defender_token.auth }}"
    query: >-
      DeviceProcessEvents | where Timestamp > ago(1d) and FileName =~ "mimikatz.exe"
      | project Timestamp, DeviceName, ProcessCommandLine | take 100
    timeout: 200
"""

RETURN = r"""
schema:
  description: The columns, as the API names them (Graph C(name)/C(type), the Defender API C(Name)/C(Type)).
  returned: success
  type: list
  elements: dict
  sample: [{name: ServiceSource, type: String}, {name: count_, type: Int64}]
results:
  description: The rows, each a dictionary of column to value.
  returned: success
  type: list
  elements: dict
  sample: [{ServiceSource: Microsoft Defender for Endpoint, count_: 12}]
row_count:
  description: How many rows RV(results) holds.
  returned: success
  type: int
  sample: 1
stats:
  description: The Defender API's query statistics (C(Stats)); Graph returns none.
  returned: success and O(api=defender)
  type: dict
api:
  description: The API that ran the query.
  returned: success
  type: str
  sample: graph
http:
  description: What the HTTP layer did, as for M(secops.m365_defender.incident).
  returned: success
  type: dict
"""

import re

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._incidents import parse_iso_time
from ansible_collections.secops.m365_defender.plugins.module_utils._module import DefenderModule

ARGUMENT_SPEC = dict(
    query=dict(type="str", required=True),
    timespan=dict(type="str"),
)

# PnYnMnWnDTnHnMnS, every part optional but at least one; days and smaller may have a fraction.
DURATION = re.compile(r"P(?!\Z)(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+(?:[.,]\d+)?D)?"
                      r"(?:T(?!\Z)(?:\d+(?:[.,]\d+)?H)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?S)?)?\Z", re.IGNORECASE)


def check_timespan(timespan):
    """Graph's Timespan: a duration back from now, a start time, or an interval start/end, start/duration or
    duration/end; InputError for anything else, before any request."""
    text = timespan.strip()
    parts = text.split("/")
    durations = [bool(DURATION.match(part)) for part in parts]
    times = [None if duration else parse_iso_time(part) for part, duration in zip(parts, durations)]
    usable = len(parts) <= 2 and all(duration or moment for duration, moment in zip(durations, times))
    if not usable or all(durations) and len(parts) == 2:
        raise InputError("Option 'timespan' got '%s': use an ISO-8601 duration (P7D, PT12H, P1M), a start time "
                         "(2026-11-01T00:00:00Z), or an interval start/end, start/duration or duration/end." % timespan)
    if len(parts) == 2 and times[0] and times[1] and times[0] > times[1]:
        raise InputError("Option 'timespan' got '%s', an interval that ends before it starts." % timespan)
    return text


def run(module):
    client = module.client
    flavour = client.flavour
    query = module.params["query"]
    if not query.strip():
        raise InputError("Option 'query' must not be empty.")
    timespan = check_timespan(module.params["timespan"]) if module.params["timespan"] is not None else None
    body = flavour.hunting_body(query, timespan)
    if flavour.hunting_retirement:
        module.warn(flavour.hunting_retirement)
    answer = client.call("POST", flavour.hunting_path, body=body, rate=flavour.hunting_rate, idempotent=True)
    schema, results, stats = flavour.hunting_result(answer)
    result = {"changed": False, "schema": schema, "results": results, "row_count": len(results),
              "api": flavour.name}
    if stats is not None:
        result["stats"] = stats
    return result


def main():
    module = DefenderModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.run(run)


if __name__ == "__main__":
    main()
