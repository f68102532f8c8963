"""The benchmark behind ``make bench``: four scenarios against the sandbox, one table.

    python3 bench/run.py [--runs N] [--sizes 100,1000,5000] [--only 1,2,3,4] [--slow-runs N] [--throttle-runs N]
                         [--task-runs N] [--paced-runs N] [--uri-max N]

Starts the sandbox (bench/scenario-50-tenants.json, time scale 1) with .venv/newest, runs

1. fetch N incidents, Graph and Defender: (a) one incident_info task, in-process and as a module, (b)
   ansible.builtin.uri and a page loop, (c) a bare requests script; median wall time and CPU of --runs runs,
   API calls and token requests from the sandbox's counters, peak RSS of the process tree (sum over the tree,
   polled from /proc), and what (a) waited for its pacing;
2. 20 tasks in one play (median of --task-runs runs, each with its baseline: the same play without the 20): debug,
   uri (one page each), and incident_info on each path with auth from the token module, token_cache_path,
   neither;
3. 50 tenants as inventory hosts, 100 ms latency on every request: forks 1, 10, 25 (median of --runs runs) on
   each path, with the CPU of the run and of the sandbox, and the speed-up those allow on this machine's cores;
4. the Defender API's documented limits on: 100 list calls (two minutes' allowance) by the collection (each
   path, every property or a few chosen) and by the bare script that honours Retry-After, end to end, from the
   first list call to the last, and after the last,

prints one table, the issue's targets for the in-process path against the module path, and writes
bench/results/latest.json, latest.md and fetch.png (matplotlib, installed into .venv/bench on first use; the
chart is skipped when that fails). Playbooks hand their figures to the driver through
bench/callback_plugins/bench_report.py.

The path of the collection's tasks is chosen per run with the extra var m365d_execution: auto (in-process on
the controller, the default) or module (a module process per task, as before); every run also counts the
module processes it saw, and a run on the wrong path counts as failed.
"""

import argparse
import contextlib
import json
import math
import os
import resource
import shutil
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(ROOT, '.build', 'bench')
RESULTS = os.path.join(HERE, 'results')
VENV = os.path.join(ROOT, '.venv', 'newest')
PYTHON = os.path.join(VENV, 'bin', 'python')
PLAYBOOK = os.path.join(VENV, 'bin', 'ansible-playbook')
CONTROL = os.path.join(ROOT, 'tests', 'sandbox', 'control.py')
SCENARIO = os.path.join(HERE, 'scenario-50-tenants.json')
PAGE = {'graph': 50, 'defender': 100}
DEFENDER_LIST_LIMIT = 50  # calls per 60 s (docs/microsoft-apis.md §5)
PATHS = ('auto', 'module')  # m365d_execution: in-process on the controller, a module process per task
PATH_LABELS = {'auto': 'in-process', 'module': 'module'}
COLLECTION_MODULES = ('token', 'app_registration_info', 'incident_info', 'incident', 'hunting_query')
# Scenario 4 with `properties`: a handful of each incident's and each alert's (Defender API names).
CHOSEN = {'bench_properties': ['incidentId', 'incidentName', 'severity', 'status', 'lastUpdateTime'],
          'bench_alert_properties': ['alertId', 'title', 'severity', 'status', 'serviceSource']}
# The figures for the module path ("today"), measured before this change (docs/performance.md).
TODAY = {'partner_forks10_s': 16.9, 'partner_forks25_rss_mib': 2174}


def say(message=''):
    print(message, flush=True)


class Admin:
    """The sandbox's admin API."""

    def __init__(self, info):
        self.url = info['admin_url']
        self.context = ssl.create_default_context(cafile=info['ca_path'])

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(request, context=self.context, timeout=60) as response:
            return json.loads(response.read() or b'null')


def tree(root):
    """A process and all its descendants: {pid: resident memory in bytes}."""
    parents, rss = {}, {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name, encoding='utf-8') as handle:
                fields = handle.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        parents[int(name)] = int(fields[1])
        rss[int(name)] = int(fields[21]) * os.sysconf('SC_PAGE_SIZE')
    members, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in members:
                members.add(child)
                frontier.append(child)
    return dict((pid, rss.get(pid, 0)) for pid in members)


def module_process(pid):
    """The name of the module a process runs (a Python running AnsiballZ_<name>.py), or None."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            arguments = handle.read().decode('utf-8', 'replace').split('\0')
    except OSError:
        return None
    for argument in arguments[1:]:
        name = os.path.basename(argument)
        if name.startswith('AnsiballZ_') and name.endswith('.py'):
            return name[len('AnsiballZ_'):-len('.py')]
    return None


def children_cpu():
    """CPU seconds (user + system) of every descendant this process has waited for, theirs included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid):
    """CPU seconds (user + system) a running process has used so far; 0 when it is gone."""
    try:
        with open('/proc/%d/stat' % pid, encoding='utf-8') as handle:
            fields = handle.read().rsplit(')', 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def measured(command, env, log, timeout=None, modules=None):
    """Run a command; (exit code, wall seconds, peak tree RSS in MiB, CPU seconds of the tree); exit code -9
    when it timed out. The tree's CPU counts every process its parent waited for (ansible-playbook's workers,
    the modules they ran). `modules`, a dict, gets {module name: its processes seen} (polled every 50 ms; a
    module process lives for a few hundred ms at least)."""
    peak = [0]
    seen = {}
    cpu_before = children_cpu()
    with open(log, 'a', encoding='utf-8') as out:
        out.write('\n$ %s\n' % ' '.join(command))
        out.flush()
        start = time.monotonic()
        with subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True) as process:

            def poll():
                while process.poll() is None:
                    members = tree(process.pid)
                    peak[0] = max(peak[0], sum(members.values()))
                    for pid in members:
                        if pid not in seen:  # not known as a module yet: it may have been forked, not exec'd
                            name = module_process(pid)
                            if name:
                                seen[pid] = name
                    time.sleep(0.05)

            watcher = threading.Thread(target=poll, daemon=True)
            watcher.start()
            try:
                code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)  # the run's own process group (start_new_session)
                process.wait()
                code = -9
                out.write('\n*** timed out after %s s\n' % timeout)
            wall = time.monotonic() - start
            watcher.join()
    if modules is not None:
        for name in seen.values():
            modules[name] = modules.get(name, 0) + 1
    return code, wall, peak[0] / 1048576.0, children_cpu() - cpu_before


class Arrivals:
    """When the k-th answered call of one route reached the sandbox, to within `interval` seconds: a thread
    polls the sandbox's counters while a run goes on (use as a context manager)."""

    def __init__(self, admin, route, interval=0.2):
        self.admin, self.route, self.interval = admin, route, interval
        self.seen = []
        self.started = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)

    def __enter__(self):
        self.started = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.done.set()
        self.thread.join()
        self.poll_once()  # a run that ends within `interval` of its last call

    def poll(self):
        while not self.done.is_set():
            self.poll_once()
            self.done.wait(self.interval)

    def poll_once(self):
        counters = self.admin.call('GET', '/counters')
        answered = counters['routes'].get(self.route, 0) - counters.get('throttled_routes', {}).get(self.route, 0)
        self.seen.append((time.monotonic(), answered))

    def when(self, count):
        """Seconds from the start of the run to the first poll that saw `count` answered calls; None if none did."""
        return next((moment - self.started for moment, answered in self.seen if answered >= count), None)


class Bench:
    def __init__(self, args, info):
        self.args = args
        self.info = info
        self.admin = Admin(info)
        self.tenants = info['tenants']
        app = next(item for item in info['apps'] if item['name'] == 'soc-responder')
        self.app = app
        self.base_vars = {
            'bench_base_url': info['base_url'], 'bench_ca_path': info['ca_path'],
            'bench_client_id': app['client_id'], 'bench_client_secret': app['secrets'][0]['value'],
            'bench_tenant_id': self.tenants[0]['id'],
        }
        self.env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'collections'),
                        ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false',
                        ANSIBLE_NOCOLOR='1', ANSIBLE_PYTHON_INTERPRETER=PYTHON, ANSIBLE_FORCE_COLOR='0',
                        ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, 'callback_plugins'),
                        ANSIBLE_CALLBACKS_ENABLED='bench_report')
        self.env.pop('M365D_EXECUTION', None)  # the path is the driver's choice, per run (-e m365d_execution)
        self.log = os.path.join(BUILD, 'bench.log')
        self.results = {}
        self.loads = []  # the 1-minute load average before each run: how busy the machine was

    def write_vars(self, name, extra):
        path = os.path.join(BUILD, name)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, 'w', encoding='utf-8') as handle:
            json.dump(dict(self.base_vars, **extra), handle)
        return path

    def counters(self):
        counters = self.admin.call('GET', '/counters')
        routes = counters.get('routes', {})
        api = sum(n for route, n in routes.items() if route.split(' ')[-1].startswith(('/v1.0/', '/api/')))
        return {'api_calls': api, 'token_requests': counters.get('token_requests_total', 0),
                'throttled': counters.get('throttled', 0), 'routes': routes}

    def once(self, command, report, timeout=None, watch=None):
        """One measured run after a counter reset: wall, RSS, CPU (the run's tree and the sandbox's), counters,
        the module processes seen and the run's own report (bare_fetch.py writes it; playbooks through
        callback_plugins/bench_report.py)."""
        if os.path.exists(report):
            os.remove(report)
        self.admin.call('POST', '/counters/reset')
        sandbox_cpu, load = process_cpu(self.info['pid']), os.getloadavg()[0]
        self.loads.append(load)
        modules = {}
        with watch or contextlib.nullcontext():
            code, wall, rss, cpu = measured(command, dict(self.env, BENCH_REPORT=report), self.log, timeout,
                                            modules=modules)
        row = {'exit_code': code, 'wall_s': round(wall, 3), 'peak_rss_mib': round(rss, 1), 'cpu_s': round(cpu, 2),
               'sandbox_cpu_s': round(process_cpu(self.info['pid']) - sandbox_cpu, 2), 'load_before': load,
               'module_processes': modules}
        row.update(self.counters())
        if os.path.exists(report):
            with open(report, encoding='utf-8') as handle:
                row['report'] = json.load(handle)
        return row

    def playbook(self, name, vars_path, *extra, path=None):
        """ansible-playbook with the vars file; with `path`, the collection's tasks' path (m365d_execution)."""
        execution = ['-e', 'm365d_execution=%s' % path] if path else []
        return [PLAYBOOK, os.path.join(HERE, 'playbooks', name), '-e', '@' + vars_path] + execution + list(extra)

    # Scenario 1 ------------------------------------------------------------------------------------------

    def startup(self):
        """ansible-playbook's fixed cost here: a play with one debug task (median of --runs)."""
        if 'startup_s' in self.results:
            return
        command = [PLAYBOOK, os.path.join(HERE, 'playbooks', 'empty.yml')]
        walls = [measured(command, self.env, self.log)[1] for _run in range(self.args.runs)]
        self.results['startup_s'] = round(statistics.median(walls), 2)
        say('  ansible-playbook with one debug task: %.2f s' % self.results['startup_s'])

    def fetch(self):
        self.startup()
        rows = []
        tenant = self.tenants[0]['id']
        for size in self.args.sizes:
            self.admin.call('POST', '/tenants/%s/incidents' % tenant, {'count': size})
            for api in ('graph', 'defender'):
                report = os.path.join(BUILD, 'report.json')
                vars_path = self.write_vars('fetch-vars.json', {'bench_api': api})
                commands = [
                    ('a', 'auto', self.playbook('fetch_collection.yml', vars_path, path='auto')),
                    ('a', 'module', self.playbook('fetch_collection.yml', vars_path, path='module')),
                    ('b', None, self.playbook('fetch_uri.yml', vars_path)),
                    ('c', None, [PYTHON, os.path.join(HERE, 'bare_fetch.py'), vars_path, report]),
                ]
                for way, path, command in commands:
                    if way == 'b' and self.args.uri_max is not None and size > self.args.uri_max:
                        continue
                    count = self.fetch_runs(size, api, way)
                    runs = [self.once(command, report, timeout=self.args.timeout if way == 'b' else None)
                            for _run in range(count)]
                    rows.append(fetch_row(size, api, way, path, runs))
        self.admin.call('POST', '/tenants/%s/incidents' % tenant, {'count': 100})
        add_vs_bare(rows, self.results['startup_s'])
        self.results['fetch'] = rows

    def fetch_runs(self, size, api, way):
        if way == 'b' and size >= 1000:
            return self.args.slow_runs  # the uri loop takes minutes at large N (docs/performance.md)
        if way == 'a' and api == 'defender' and size // PAGE['defender'] + 1 > DEFENDER_LIST_LIMIT:
            return self.args.paced_runs  # most of it the pacer's fixed wait for the second minute
        return self.args.runs

    # Scenario 2 ------------------------------------------------------------------------------------------

    def tasks20(self):
        self.startup()
        configs = [('debug', None, None), ('uri', None, None)]
        configs += [('incident_info', path, mode) for path in PATHS for mode in ('auth', 'cache', 'none')]
        rows = [self.tasks20_config(task, path, mode) for task, path, mode in configs]
        floor = next(row for row in rows if row['task'] == 'debug')
        uri = next(row for row in rows if row['task'] == 'uri')
        for row in rows:
            row['vs_uri'] = round(uri['wall_s'] / row['wall_s'], 2)
            row['per_task_vs_debug'] = round(row['per_task_ms'] / floor['per_task_ms'], 1)
        self.results['tasks20'] = rows

    def tasks20_config(self, task, path, mode):
        """--task-runs runs of 20 tasks, each followed by its baseline: the same play with the 20 left out. A
        task's cost is the median of the differences of each pair (start-up drifts with the machine's load)."""
        cache = os.path.join(BUILD, 'token-cache.json')
        vars_path = self.write_vars('tasks-vars.json', {'bench_mode': mode or 'none', 'bench_token_cache': cache})
        command = self.playbook(TASK_PLAYBOOKS[task], vars_path, path=path)
        report = os.path.join(BUILD, 'none.json')
        runs, baselines = [], []
        for _run in range(self.args.task_runs):
            for kind, extra in ((runs, []), (baselines, ['--skip-tags', 'measured'])):
                if os.path.exists(cache):
                    os.remove(cache)
                kind.append(self.once(command + extra, report))
        wall = statistics.median(run['wall_s'] for run in runs)
        baseline = statistics.median(run['wall_s'] for run in baselines)
        last = runs[-1]
        row = {'task': task, 'path': path, 'mode': mode, 'runs': len(runs), 'wall_s': round(wall, 2),
               'wall_all_s': [run['wall_s'] for run in runs], 'baseline_s': round(baseline, 2),
               'per_task_ms': round(statistics.median(run['wall_s'] - base['wall_s']
                                                      for run, base in zip(runs, baselines)) / 20 * 1000, 1),
               'cpu_s': round(statistics.median(run['cpu_s'] for run in runs), 2),
               'token_requests': last['token_requests'], 'api_calls': last['api_calls'],
               'module_processes': last['module_processes'], 'load_before': [run['load_before'] for run in runs],
               'ok': all(run['exit_code'] == 0 for run in runs + baselines) and on_path(path, runs)}
        say('  20 tasks, %-13s %-10s %-5s: %6.2f s (without the 20: %5.2f s, %5.0f ms a task)  tokens %d  '
            'API calls %d  %s' % (task, PATH_LABELS.get(path, ''), mode or '', row['wall_s'], row['baseline_s'],
                                  row['per_task_ms'], row['token_requests'], row['api_calls'],
                                  'ok' if row['ok'] else 'FAILED'))
        return row

    # Scenario 3 ------------------------------------------------------------------------------------------

    def partner(self):
        inventory = os.path.join(BUILD, 'inventory.json')
        hosts = {tenant['name']: {'m365d_tenant_id': tenant['id'], 'ansible_connection': 'local',
                                  'ansible_python_interpreter': PYTHON} for tenant in self.tenants}
        with open(inventory, 'w', encoding='utf-8') as handle:
            json.dump({'all': {'children': {'tenants': {'hosts': hosts}}}}, handle)
        vars_path = self.write_vars('partner-vars.json', {})
        self.admin.call('POST', '/faults', {'path': '^/', 'count': 1000000, 'latency': 0.1})
        rows = []
        try:
            for path in PATHS:
                mine = []
                for forks in (1, 10, 25):
                    command = self.playbook('partner.yml', vars_path, '-i', inventory, '--forks', str(forks),
                                            path=path)
                    runs = [self.once(command, os.path.join(BUILD, 'none.json')) for _run in range(self.args.runs)]
                    mine.append(partner_row(forks, path, len(self.tenants), runs))
                for row in mine:
                    row['speedup'] = round(mine[0]['wall_s'] / row['wall_s'], 2)
                    # The best the cores allow: all the run's CPU (ours and the sandbox's) spread evenly over them.
                    row['cpu_bound_s'] = round((row['cpu_s'] + row['sandbox_cpu_s']) / os.cpu_count(), 2)
                    row['speedup_ceiling'] = round(
                        mine[0]['wall_s'] / max(row['cpu_bound_s'], mine[0]['wall_s'] / row['forks']), 2)
                rows += mine
        finally:
            self.admin.call('DELETE', '/faults')
        self.results['partner'] = rows
        self.results['partner_floor'] = self.partner_floor(inventory)

    def partner_floor(self, inventory):
        """Peak RSS of the same inventory at forks 25 with no code of the collection (a debug task holding each
        worker 0.3 s): what ansible-core's own workers take, the floor under the partner figure."""
        command = [PLAYBOOK, os.path.join(HERE, 'playbooks', 'partner_floor.yml'), '-i', inventory, '--forks', '25']
        runs = [measured(command, self.env, self.log) for _run in range(self.args.runs)]
        row = {'forks': 25, 'runs': len(runs), 'ok': all(run[0] == 0 for run in runs),
               'wall_s': round(statistics.median(run[1] for run in runs), 2),
               'peak_rss_mib': round(max(run[2] for run in runs), 1)}
        say('  partner floor (debug only), forks 25: %6.2f s  RSS %6.1f MiB  %s'
            % (row['wall_s'], row['peak_rss_mib'], 'ok' if row['ok'] else 'FAILED'))
        return row

    # Scenario 4 ------------------------------------------------------------------------------------------

    def throttle(self):
        tenant = self.tenants[1]['id']
        calls = 2 * DEFENDER_LIST_LIMIT
        size = (calls - 1) * PAGE['defender'] + PAGE['defender'] // 2  # the last page short: exactly `calls` calls
        self.admin.call('POST', '/tenants/%s/incidents' % tenant, {'count': size})
        self.admin.call('PUT', '/limits', {'enabled': True})
        report = os.path.join(BUILD, 'report.json')
        common = {'bench_api': 'defender', 'bench_tenant_id': tenant, 'retry_429': True}
        every = self.write_vars('throttle-vars.json', dict(common, bench_alerts=True))
        chosen = self.write_vars('throttle-chosen-vars.json', dict(common, bench_alerts=True, **CHOSEN))
        ideal = (math.ceil(calls / DEFENDER_LIST_LIMIT) - 1) * 60.0
        ways = [('a', 'module', 'all', self.playbook('fetch_collection.yml', every, path='module')),
                ('a', 'auto', 'all', self.playbook('fetch_collection.yml', every, path='auto')),
                ('a', 'module', 'chosen', self.playbook('fetch_collection.yml', chosen, path='module')),
                ('a', 'auto', 'chosen', self.playbook('fetch_collection.yml', chosen, path='auto')),
                ('c', None, 'all', [PYTHON, os.path.join(HERE, 'bare_fetch.py'), every, report])]
        rows = []
        try:
            for way, path, properties, command in ways:
                for _run in range(self.args.throttle_runs):
                    self.admin.call('POST', '/limits/reset')
                    watch = Arrivals(self.admin, 'GET /api/incidents')
                    run = self.once(command, report, watch=watch)
                    rows.append(self.throttle_row(way, path, properties, size, ideal, run, api_phase(watch, calls)))
        finally:
            self.admin.call('PUT', '/limits', {'enabled': False})
            self.admin.call('POST', '/tenants/%s/incidents' % tenant, {'count': 100})
        self.results['throttle'] = rows

    @staticmethod
    def throttle_row(way, path, properties, size, ideal, run, phase):
        got = run.get('report') or {}
        list_calls = run['routes'].get('GET /api/incidents', 0)
        served = list_calls - run['throttled']
        row = {'way': way, 'path': path, 'properties': properties, 'n': size, 'list_calls': list_calls,
               'answered_calls': served, 'throttled_429': run['throttled'], 'wall_s': run['wall_s'], 'ideal_s': ideal,
               'calls_per_min': round(served / run['wall_s'] * 60, 1),
               'rate_vs_allowed': round(ideal / run['wall_s'], 3) if ideal else None,
               'cpu_s': run['cpu_s'], 'peak_rss_mib': run['peak_rss_mib'],
               'module_processes': run['module_processes'], 'load_before': run['load_before'],
               'ok': run['exit_code'] == 0 and got.get('count') == size and on_path(path, [run])}
        row.update(phase)
        if phase.get('api_span_s'):
            row['after_last_call_s'] = round(run['wall_s'] - phase['last_call_s'], 1) + 0.0  # no -0.0
        if way == 'a':
            row['http'] = got.get('http')
        say('  throttle %s: %d calls, %d x 429, %.1f s (ideal %.0f s), %.0f%% of the allowed rate end to end, '
            '%s%% from the first call to the last, %s s after the last  %s'
            % (way_label(row), list_calls, run['throttled'], run['wall_s'], ideal,
               100 * (row['rate_vs_allowed'] or 0),
               '%.0f' % (100 * row['api_rate_vs_allowed']) if row.get('api_rate_vs_allowed') else '?',
               row.get('after_last_call_s', '?'), 'ok' if row['ok'] else 'FAILED'))
        return row


TASK_PLAYBOOKS = {'debug': 'tasks20_debug.yml', 'uri': 'tasks20_uri.yml', 'incident_info': 'tasks20.yml'}


def on_path(path, runs):
    """Whether every run took the path it was asked for: module processes of the collection seen on the module
    path, none in-process. True for runs that are not the collection's."""
    if path is None:
        return True
    for run in runs:
        ours = sum(count for name, count in run['module_processes'].items() if name in COLLECTION_MODULES)
        if (path == 'module') != (ours > 0):
            return False
    return True


def partner_row(forks, path, tenants, runs):
    last = runs[-1]
    row = {'forks': forks, 'path': path, 'tenants': tenants, 'runs': len(runs),
           'wall_s': round(statistics.median(run['wall_s'] for run in runs), 2),
           'wall_all_s': [run['wall_s'] for run in runs],
           'cpu_s': round(statistics.median(run['cpu_s'] for run in runs), 2),
           'sandbox_cpu_s': round(statistics.median(run['sandbox_cpu_s'] for run in runs), 2),
           'token_requests': last['token_requests'], 'api_calls': last['api_calls'],
           'requests': sum(last['routes'].values()), 'module_processes': last['module_processes'],
           'load_before': [run['load_before'] for run in runs],
           'peak_rss_mib': max(run['peak_rss_mib'] for run in runs),
           'ok': all(run['exit_code'] == 0 for run in runs) and on_path(path, runs)}
    say('  partner, %-10s forks %2d: %6.2f s  CPU %5.2f s + sandbox %5.2f s  tokens %d  API calls %d  RSS %6.1f MiB  '
        '%s' % (PATH_LABELS[path], forks, row['wall_s'], row['cpu_s'], row['sandbox_cpu_s'], row['token_requests'],
                row['api_calls'], row['peak_rss_mib'], 'ok' if row['ok'] else 'FAILED'))
    return row


def fetch_row(size, api, way, path, runs):
    last = runs[-1]
    row = {
        'n': size, 'api': api, 'way': way, 'path': path, 'runs': len(runs),
        'wall_s': round(statistics.median(run['wall_s'] for run in runs), 2),
        'wall_all_s': [run['wall_s'] for run in runs],
        'cpu_s': round(statistics.median(run['cpu_s'] for run in runs), 2),
        'api_calls': last['api_calls'], 'expected_calls': math.ceil(size / PAGE[api]),
        'token_requests': last['token_requests'], 'module_processes': last['module_processes'],
        'load_before': [run['load_before'] for run in runs],
        'peak_rss_mib': max(run['peak_rss_mib'] for run in runs),
        'count': (last.get('report') or {}).get('count'),
        'ok': all(run['exit_code'] == 0 and (run.get('report') or {}).get('count') == size for run in runs)
        and on_path(path, runs),
    }
    if way == 'a' and last.get('report'):
        row['http'] = last['report'].get('http')
        row['paced_s'] = statistics.median((run.get('report') or {}).get('http', {}).get('paced_seconds', 0)
                                           for run in runs)
    say('  fetch N=%-5d %-8s (%s) %-10s: %6.2f s  CPU %5.2f s  calls %3d (ideal %d)  tokens %d  RSS %6.1f MiB  %s'
        % (size, api, way, PATH_LABELS.get(path, ''), row['wall_s'], row['cpu_s'], row['api_calls'],
           row['expected_calls'], row['token_requests'], row['peak_rss_mib'], 'ok' if row['ok'] else 'FAILED'))
    return row


def add_vs_bare(rows, startup):
    """Each row against (c) alone and against (c) plus ansible-playbook's start-up (an empty play's)."""
    floor = {(r['n'], r['api']): r['wall_s'] for r in rows if r['way'] == 'c'}
    for row in rows:
        base = floor.get((row['n'], row['api']))
        if base:
            row['vs_bare'] = round(row['wall_s'] / base, 2)
            row['vs_bare_and_startup'] = round(row['wall_s'] / (base + startup), 2)


def api_phase(watch, calls):
    """From the first list call to the last: how long it took, and against what the limit allowed.

    The first window's calls go out at the client's own pace (from call 1 to call DEFENDER_LIST_LIMIT); the
    best any client can do is to send the next window's calls at the same pace one window later, so the
    last call can arrive no earlier than 60 s + that first stretch after the first (twice the stretch when
    the client is slower than the limit anyway). Arrival times come from polls: within about 0.2 s.
    """
    first, full, last = watch.when(1), watch.when(DEFENDER_LIST_LIMIT), watch.when(calls)
    if None in (first, full, last) or last <= first:
        return {}
    stretch = full - first
    span, allowed = last - first, max(60.0, stretch) + stretch
    return {'first_call_s': round(first, 1), 'last_call_s': round(last, 1), 'api_span_s': round(span, 1),
            'api_ideal_s': round(allowed, 1), 'api_rate_vs_allowed': round(min(1.0, allowed / span), 3)}


# The targets -------------------------------------------------------------------------------------

def pick(rows, **where):
    return next((row for row in rows or () if all(row.get(key) == value for key, value in where.items())), None)


def targets(results):
    """The five figures of the issue, module path (before) against in-process (after): a list of dicts with
    figure, unit, before, after, target (text), met (bool or None when a figure is missing)."""
    found = []
    tasks = results.get('tasks20')
    if tasks:
        uri = pick(tasks, task='uri')
        debug = pick(tasks, task='debug')
        api = {path: pick(tasks, task='incident_info', path=path, mode='auth') for path in PATHS}
        found.append(target('20 API tasks in one play: wall time of 20 uri tasks ÷ that of 20 incident_info tasks '
                            '(one token task, auth reused)', '×', api['module']['vs_uri'], api['auto']['vs_uri'],
                            '≥ 4×', api['auto']['vs_uri'] >= 4,
                            'uri %.2f s; incident_info %.2f s (module), %.2f s (in-process)'
                            % (uri['wall_s'], api['module']['wall_s'], api['auto']['wall_s'])))
        found.append(target('an API task\'s own overhead ÷ a debug task\'s ((wall of 20 − wall without them) ÷ 20)',
                            '×', api['module']['per_task_vs_debug'], api['auto']['per_task_vs_debug'], '≤ 3×',
                            api['auto']['per_task_vs_debug'] <= 3,
                            'debug %.0f ms; incident_info %.0f ms (module), %.0f ms (in-process)'
                            % (debug['per_task_ms'], api['module']['per_task_ms'], api['auto']['per_task_ms'])))
    fetch = results.get('fetch')
    graph = {path: pick(fetch, n=5000, api='graph', way='a', path=path) for path in PATHS}
    bare = pick(fetch, n=5000, api='graph', way='c')
    if all(graph.values()) and bare:
        found.append(target('5,000 Graph incidents end to end: (a) ÷ ((c) bare requests + an empty play\'s start-up)',
                            '×', graph['module']['vs_bare_and_startup'], graph['auto']['vs_bare_and_startup'],
                            '≤ 1.3×', graph['auto']['vs_bare_and_startup'] <= 1.3,
                            '(a) %.2f s (module), %.2f s (in-process); (c) %.2f s + start-up %.2f s'
                            % (graph['module']['wall_s'], graph['auto']['wall_s'], bare['wall_s'],
                               results['startup_s'])))
    partner = results.get('partner')
    ten = {path: pick(partner, forks=10, path=path) for path in PATHS}
    many = {path: pick(partner, forks=25, path=path) for path in PATHS}
    if all(ten.values()) and all(many.values()):
        limit = TODAY['partner_forks10_s'] / 2.5
        found.append(target('50 tenants, 100 ms latency, forks 10: wall time', 's', ten['module']['wall_s'],
                            ten['auto']['wall_s'], '≤ %.2f s (2.5× faster than %.1f s)'
                            % (limit, TODAY['partner_forks10_s']), ten['auto']['wall_s'] <= limit,
                            '%.2f× faster than %.1f s, %.2f× than the module path in this run'
                            % (TODAY['partner_forks10_s'] / ten['auto']['wall_s'], TODAY['partner_forks10_s'],
                               ten['module']['wall_s'] / ten['auto']['wall_s'])))
        limit = TODAY['partner_forks25_rss_mib'] / 2.0
        found.append(target('50 tenants, forks 25: peak RSS of the process tree', 'MiB', many['module']['peak_rss_mib'],
                            many['auto']['peak_rss_mib'], '≤ %.0f MiB (half of %d MiB)'
                            % (limit, TODAY['partner_forks25_rss_mib']), many['auto']['peak_rss_mib'] <= limit,
                            floor_note(results.get('partner_floor'), many['auto']['peak_rss_mib'])))
    throttle = results.get('throttle')
    before = pick(throttle, way='a', path='module', properties='all')
    after = pick(throttle, way='a', path='auto', properties='chosen')
    if before and after and 'after_last_call_s' in before and 'after_last_call_s' in after:
        found.append(target('9,950 Defender incidents with alerts: time after the last API call (before: every '
                            'property; after: a few chosen)', 's', before['after_last_call_s'],
                            after['after_last_call_s'], '≤ 5 s', after['after_last_call_s'] <= 5,
                            'module path with the same choice: %s s; in-process with every property: %s s' % (
                                (pick(throttle, way='a', path='module', properties='chosen') or {}).get(
                                    'after_last_call_s', '?'),
                                (pick(throttle, way='a', path='auto', properties='all') or {}).get(
                                    'after_last_call_s', '?'))))
    return found


def target(figure, unit, before, after, goal, met, detail):
    return {'figure': figure, 'unit': unit, 'before': before, 'after': after, 'target': goal, 'met': bool(met),
            'detail': detail}


# Output -------------------------------------------------------------------------------------------------

WAYS = {'a': 'incident_info', 'b': 'uri loop', 'c': 'bare requests'}


def way_label(row):
    label = '(%s) %s' % (row['way'], WAYS[row['way']])
    if row.get('path'):
        label += ', ' + PATH_LABELS[row['path']]
    if row.get('properties') == 'chosen':
        label += ', chosen properties'
    return label


def markdown(results, meta):
    lines = ['Measured %s on %s (%d cores), %s, ansible-core %s; fetch and partner figures: median of %d runs, (b) '
             'at N ≥ 1,000: %d run(s), (a) on Defender at N ≥ 5,000: %d run(s); 20 tasks: median of %d runs; '
             'throttling: %d run(s) of each way.%s' % (
                 meta['date'], meta['host'], meta['cores'], meta['python'], meta['ansible_core'], meta['runs'],
                 meta['slow_runs'], meta['paced_runs'], meta['task_runs'], meta['throttle_runs'],
                 ' (b) only up to N = %d.' % meta['uri_max'] if meta.get('uri_max') is not None else ''),
             '', 'Load average (1 min) before each run: median %s, highest %s.'
             % (meta['load_median'], meta['load_max']),
             '', 'Command: `%s`' % meta['command'], '']
    if results.get('targets'):
        lines += targets_table(results) + ['']
    for name, table in (('fetch', fetch_table), ('tasks20', tasks20_table), ('partner', partner_table),
                        ('throttle', throttle_table)):
        if results.get(name):
            lines += table(results) + ['']
    return '\n'.join(lines)


def number(value, unit):
    if unit == '×':
        return '%.2f×' % value
    if unit == 'MiB':
        return '%.0f MiB' % value
    return '%.2f %s' % (value, unit)


def targets_table(results):
    lines = ['**The issue\'s figures: module path (before) against in-process (after)**', '',
             '| figure | before: module | after: in-process | target | met | |', '|---|---:|---:|---|---|---|']
    for t in results['targets']:
        lines.append('| %s | %s | %s | %s | %s | %s |' % (
            t['figure'], number(t['before'], t['unit']), number(t['after'], t['unit']), t['target'],
            'yes' if t['met'] else '**no**', t['detail']))
    return lines


def fetch_table(results):
    lines = ['**1. Fetch N incidents** (wall time and CPU = median; CPU = user + system of the whole process tree; '
             'RSS = its peak; paced = what (a) waited to stay below the Defender API\'s documented 50 list calls a '
             'minute; vs (c) + start-up = wall ÷ ((c)\'s wall + an empty play\'s)', '',
             '| N | API | way | wall s | vs (c) | vs (c) + start-up | CPU s | paced s | API calls (ideal) | '
             'token requests | peak RSS MiB | all read |',
             '|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|']
    for r in results['fetch']:
        lines.append('| %d | %s | %s | %.2f | %s | %s | %.2f | %s | %d (%d) | %d | %.0f | %s |' % (
            r['n'], r['api'], way_label(r), r['wall_s'], '%.1f×' % r['vs_bare'] if 'vs_bare' in r else '',
            '%.1f×' % r['vs_bare_and_startup'] if r['way'] == 'a' and 'vs_bare_and_startup' in r else '',
            r.get('cpu_s', 0), '%.1f' % r['paced_s'] if 'paced_s' in r else '', r['api_calls'], r['expected_calls'],
            r['token_requests'], r['peak_rss_mib'], 'yes' if r['ok'] else 'NO'))
    return lines + ['', 'ansible-playbook alone (a play with one `debug` task) takes %.2f s here; it is part of every '
                        '(a) and (b) figure.' % results.get('startup_s', 0)]


def tasks20_table(results):
    lines = ['**2. 20 tasks in one play, one tenant** (median of each; without the 20 = the same play run with '
             '`--skip-tags measured`: start-up and, for uri and `auth`, the token task; a task = (wall − without '
             'the 20) ÷ 20)', '',
             '| tasks | path | sign-in | wall s | without the 20 s | a task ms | vs debug | uri ÷ this | '
             'token requests | API calls | ok |',
             '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|']
    labels = {'auth': '`token` once, `auth` reused', 'cache': '`token_cache_path`', 'none': 'neither'}
    names = {'debug': '`ansible.builtin.debug`', 'uri': '`ansible.builtin.uri` (one page)',
             'incident_info': '`incident_info` (`limit: 10`)'}
    for r in results['tasks20']:
        sign_in = {'incident_info': labels.get(r['mode'], ''), 'uri': '`uri` token request once'}.get(r['task'], '')
        lines.append('| %s | %s | %s | %.2f | %.2f | %.0f | %.1f× | %.2f× | %d | %d | %s |' % (
            names[r['task']], PATH_LABELS.get(r['path'], ''), sign_in, r['wall_s'], r['baseline_s'],
            r['per_task_ms'], r['per_task_vs_debug'], r['vs_uri'], r['token_requests'], r['api_calls'],
            'yes' if r['ok'] else 'NO'))
    return lines


def floor_note(floor, after):
    """What ansible-core's own workers take at forks 25, against the in-process figure."""
    if not floor:
        return ''
    return ('ansible-core alone (a debug task, same hosts and forks): %.0f MiB; the collection adds %.0f MiB'
            % (floor['peak_rss_mib'], after - floor['peak_rss_mib']))


def partner_table(results):
    lines = ['**3. Partner scale: 50 tenants as hosts, 100 ms latency on every request** (CPU: user + system; '
             'ceiling: the speed-up the cores allow, forks 1\'s wall time ÷ (all CPU ÷ cores))', '',
             '| path | forks | wall s | speed-up vs forks 1 | CPU s: ansible + modules | CPU s: sandbox | ceiling | '
             'token requests | API calls | peak RSS MiB | ok |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|']
    for r in results['partner']:
        lines.append('| %s | %d | %.2f | %.1f× | %.1f | %.1f | %s | %d | %d | %.0f | %s |' % (
            PATH_LABELS[r['path']], r['forks'], r['wall_s'], r['speedup'], r.get('cpu_s', 0),
            r.get('sandbox_cpu_s', 0), '%.1f×' % r['speedup_ceiling'] if 'speedup_ceiling' in r else '',
            r['token_requests'], r['api_calls'], r['peak_rss_mib'], 'yes' if r['ok'] else 'NO'))
    floor = results.get('partner_floor')
    if floor:
        lines.append('| floor: ansible-core alone (`debug`, 0.3 s a host) | 25 | %.2f |  |  |  |  | 0 | 0 | %.0f | %s |'
                     % (floor['wall_s'], floor['peak_rss_mib'], 'yes' if floor['ok'] else 'NO'))
    return lines


def throttle_table(results):
    lines = ['**4. Throttling: Defender API limits on (50 list calls per 60 s, real time)** (end to end: ideal ÷ '
             'wall; first → last call: when the sandbox saw them, against the earliest the limit allows the last one '
             'given the client\'s own pace in the first window; (a) with `alerts: true`, chosen properties = '
             '`properties: %s`, `alert_properties: %s`)' % (', '.join(CHOSEN['bench_properties']),
                                                            ', '.join(CHOSEN['bench_alert_properties'])), '',
             '| way | N | list calls | 429s | wall s | ideal s | ideal ÷ wall | first → last call s | its ideal s | '
             'rate vs allowed, first → last call | after the last call s | peak RSS MiB | ok |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|']
    for r in results['throttle']:
        phase = '| | |'
        if r.get('api_span_s'):
            phase = '%.1f | %.1f | %.0f%% | %.1f' % (r['api_span_s'], r['api_ideal_s'], 100 * r['api_rate_vs_allowed'],
                                                     r['after_last_call_s'])
        lines.append('| %s | %d | %d | %d | %.1f | %.0f | %.0f%% | %s | %.0f | %s |' % (
            way_label(r), r['n'], r['list_calls'], r['throttled_429'], r['wall_s'], r['ideal_s'],
            100 * (r['rate_vs_allowed'] or 0), phase, r.get('peak_rss_mib', 0), 'yes' if r['ok'] else 'NO'))
    return lines


def chart(results, path):
    """fetch.png with matplotlib from .venv/bench (created on first use); False when unavailable."""
    venv = os.path.join(ROOT, '.venv', 'bench')
    python = os.path.join(venv, 'bin', 'python')
    try:
        if not os.path.exists(python) or subprocess.run([python, '-c', 'import matplotlib'], capture_output=True,
                                                        check=False).returncode:
            subprocess.run([sys.executable, '-m', 'venv', venv], check=True, capture_output=True)
            subprocess.run([python, '-m', 'pip', 'install', '-q', 'matplotlib'], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        say('No chart: matplotlib could not be installed (%s)' % exc)
        return False
    data = os.path.join(BUILD, 'chart-data.json')
    with open(data, 'w', encoding='utf-8') as handle:
        json.dump(results.get('fetch', []), handle)
    code = subprocess.run([python, os.path.join(HERE, 'chart.py'), data, path], check=False).returncode
    return code == 0


def versions():
    core = subprocess.run([PYTHON, '-c', 'import ansible; print(ansible.__version__)'], capture_output=True,
                          text=True, check=False).stdout.strip()
    python = subprocess.run([PYTHON, '-c', 'import platform; print(platform.python_version())'],
                            capture_output=True, text=True, check=False).stdout.strip()
    return core, 'Python ' + python


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--sizes', default='100,1000,5000')
    parser.add_argument('--only', default='1,2,3,4')
    parser.add_argument('--slow-runs', type=int, default=1, help='runs of (b), the uri loop, at N >= 1000')
    parser.add_argument('--timeout', type=float, default=300, help='seconds one run of (b) may take')
    parser.add_argument('--throttle-runs', type=int, default=1, help='runs of each way in scenario 4')
    parser.add_argument('--task-runs', type=int, default=5, help='runs of each play in scenario 2 (and its baseline)')
    parser.add_argument('--paced-runs', type=int, default=1,
                        help='runs of (a) where the pacer waits for a second minute (Defender, N >= 5,000)')
    parser.add_argument('--uri-max', type=int, default=None, help='run (b), the uri loop, only up to this N')
    args = parser.parse_args()
    args.sizes = [int(size) for size in args.sizes.split(',')]
    only = set(args.only.split(','))
    say('Setting up .venv/newest and the collection link (tests/run/suite.py setup)')
    subprocess.run([sys.executable, os.path.join(ROOT, 'tests', 'run', 'suite.py'), 'setup'], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    link = os.path.join(ROOT, '.build', 'collections', 'ansible_collections', 'secops', 'm365_defender')
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    shutil.rmtree(BUILD, ignore_errors=True)
    os.makedirs(BUILD)
    os.makedirs(RESULTS, exist_ok=True)
    state = os.path.join(BUILD, 'sandbox')
    subprocess.run([PYTHON, CONTROL, 'start', '--state-dir', state, '--scenario', SCENARIO, '--time-scale', '1'],
                   check=True)
    started = time.monotonic()
    try:
        with open(os.path.join(state, 'sandbox.json'), encoding='utf-8') as handle:
            info = json.load(handle)
        bench = Bench(args, info)
        bench.admin.call('PUT', '/limits', {'enabled': False})
        steps = (('1', 'Scenario 1: fetch', bench.fetch), ('2', 'Scenario 2: 20 tasks', bench.tasks20),
                 ('3', 'Scenario 3: partner scale', bench.partner), ('4', 'Scenario 4: throttling', bench.throttle))
        for key, title, step in steps:
            if key in only:
                say(title)
                step()
                with open(os.path.join(BUILD, 'partial.json'), 'w', encoding='utf-8') as handle:
                    json.dump(bench.results, handle, indent=1)
    finally:
        subprocess.run([PYTHON, CONTROL, 'stop', '--state-dir', state], check=False)
    core, python = versions()
    meta = {'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), 'host': os.uname().nodename,
            'cores': os.cpu_count(), 'python': python, 'ansible_core': core, 'runs': args.runs,
            'slow_runs': args.slow_runs, 'throttle_runs': args.throttle_runs, 'task_runs': args.task_runs,
            'paced_runs': args.paced_runs, 'uri_max': args.uri_max,
            'load_median': round(statistics.median(bench.loads), 2) if bench.loads else None,
            'load_max': round(max(bench.loads), 2) if bench.loads else None,
            'command': ' '.join(['python3', 'bench/run.py'] + sys.argv[1:]),
            'total_s': round(time.monotonic() - started, 1)}
    bench.results['targets'] = targets(bench.results)
    table = markdown(bench.results, meta)
    with open(os.path.join(RESULTS, 'latest.json'), 'w', encoding='utf-8') as handle:
        json.dump({'meta': meta, 'results': bench.results}, handle, indent=1)
        handle.write('\n')
    with open(os.path.join(RESULTS, 'latest.md'), 'w', encoding='utf-8') as handle:
        handle.write(table + '\n')
    if bench.results.get('fetch'):
        chart(bench.results, os.path.join(RESULTS, 'fetch.png'))
    say()
    say(table)
    say('Total %.0f s. Written: bench/results/latest.json, latest.md, fetch.png; log: .build/bench/bench.log'
        % meta['total_s'])
    failed = [row for name, rows in bench.results.items() if isinstance(rows, list) and name != 'targets'
              for row in rows if not row.get('ok')]
    failed += [floor for floor in [bench.results.get('partner_floor')] if floor and not floor['ok']]
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
