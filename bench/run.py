"""The benchmark behind ``make bench``: four scenarios against the sandbox, one table.

    python3 bench/run.py [--runs N] [--sizes 100,1000,5000] [--only 1,2,3,4] [--slow-runs N] [--throttle-runs N]

Starts the sandbox (bench/scenario-50-tenants.json, time scale 1) with .venv/newest, runs

1. fetch N incidents, Graph and Defender: (a) one incident_info task, (b) ansible.builtin.uri and a page loop,
   (c) a bare requests script; median wall time and CPU of --runs runs, API calls and token requests from the
   sandbox's counters, peak RSS of the process tree (sum over the tree, polled from /proc), and what (a)
   waited for its pacing;
2. 20 API tasks in one play: auth from the token module, token_cache_path, neither;
3. 50 tenants as inventory hosts, 100 ms latency on every request: forks 1, 10, 25 (median of --runs runs),
   with the CPU of the run and of the sandbox, and the speed-up those allow on this machine's cores;
4. the Defender API's documented limits on: 100 list calls (two minutes' allowance) by the collection and
   by the bare script that honours Retry-After, end to end and from the first list call to the last,

prints one table and writes bench/results/latest.json, latest.md and fetch.png (matplotlib, installed into
.venv/bench on first use; the chart is skipped when that fails). Playbooks hand their figures to the driver
through bench/callback_plugins/bench_report.py.
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


def tree_rss(root):
    """Resident memory (bytes) of a process and all its descendants."""
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
    return sum(rss.get(pid, 0) for pid in members)


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


def measured(command, env, log, timeout=None):
    """Run a command; (exit code, wall seconds, peak tree RSS in MiB, CPU seconds of the tree); exit code -9
    when it timed out. The tree's CPU counts every process its parent waited for (ansible-playbook's workers,
    the modules they ran)."""
    peak = [0]
    cpu_before = children_cpu()
    with open(log, 'a', encoding='utf-8') as out:
        out.write('\n$ %s\n' % ' '.join(command))
        out.flush()
        start = time.monotonic()
        with subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True) as process:

            def poll():
                while process.poll() is None:
                    peak[0] = max(peak[0], tree_rss(process.pid))
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
        """One measured run after a counter reset: wall, RSS, CPU (the run's tree and the sandbox's), counters
        and the run's own report (bare_fetch.py writes it; playbooks through callback_plugins/bench_report.py)."""
        if os.path.exists(report):
            os.remove(report)
        self.admin.call('POST', '/counters/reset')
        sandbox_cpu, load = process_cpu(self.info['pid']), os.getloadavg()[0]
        self.loads.append(load)
        with watch or contextlib.nullcontext():
            code, wall, rss, cpu = measured(command, dict(self.env, BENCH_REPORT=report), self.log, timeout)
        row = {'exit_code': code, 'wall_s': round(wall, 3), 'peak_rss_mib': round(rss, 1), 'cpu_s': round(cpu, 2),
               'sandbox_cpu_s': round(process_cpu(self.info['pid']) - sandbox_cpu, 2), 'load_before': load}
        row.update(self.counters())
        if os.path.exists(report):
            with open(report, encoding='utf-8') as handle:
                row['report'] = json.load(handle)
        return row

    def playbook(self, name, vars_path, *extra):
        return [PLAYBOOK, os.path.join(HERE, 'playbooks', name), '-e', '@' + vars_path] + list(extra)

    # Scenario 1 ------------------------------------------------------------------------------------------

    def startup(self):
        """ansible-playbook's fixed cost here: a play with one debug task (median of --runs)."""
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
                commands = {
                    'a': self.playbook('fetch_collection.yml', vars_path),
                    'b': self.playbook('fetch_uri.yml', vars_path),
                    'c': [PYTHON, os.path.join(HERE, 'bare_fetch.py'), vars_path, report],
                }
                for way, command in commands.items():
                    # The uri loop takes minutes at large N (see docs/performance.md): fewer runs, a time limit.
                    count = self.args.runs if way != 'b' or size < 1000 else self.args.slow_runs
                    runs = [self.once(command, report, timeout=self.args.timeout if way == 'b' else None)
                            for _run in range(count)]
                    rows.append(fetch_row(size, api, way, runs))
        self.admin.call('POST', '/tenants/%s/incidents' % tenant, {'count': 100})
        self.results['fetch'] = rows

    # Scenario 2 ------------------------------------------------------------------------------------------

    def tasks20(self):
        rows = []
        cache = os.path.join(BUILD, 'token-cache.json')
        for mode in ('auth', 'cache', 'none'):
            if os.path.exists(cache):
                os.remove(cache)
            vars_path = self.write_vars('tasks-vars.json', {'bench_mode': mode, 'bench_token_cache': cache})
            run = self.once(self.playbook('tasks20.yml', vars_path), os.path.join(BUILD, 'none.json'))
            row = {'mode': mode, 'wall_s': run['wall_s'], 'token_requests': run['token_requests'],
                   'api_calls': run['api_calls'], 'ok': run['exit_code'] == 0}
            rows.append(row)
            say('  20 tasks, %-5s: %6.2f s  tokens %d  API calls %d  %s'
                % (mode, row['wall_s'], row['token_requests'], row['api_calls'], 'ok' if row['ok'] else 'FAILED'))
        self.results['tasks20'] = rows

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
            for forks in (1, 10, 25):
                command = self.playbook('partner.yml', vars_path, '-i', inventory, '--forks', str(forks))
                runs = [self.once(command, os.path.join(BUILD, 'none.json')) for _run in range(self.args.runs)]
                rows.append(partner_row(forks, len(self.tenants), runs))
        finally:
            self.admin.call('DELETE', '/faults')
        for row in rows:
            row['speedup'] = round(rows[0]['wall_s'] / row['wall_s'], 2)
            # The best the cores allow: all the run's CPU (ours and the sandbox's) spread evenly over them.
            row['cpu_bound_s'] = round((row['cpu_s'] + row['sandbox_cpu_s']) / os.cpu_count(), 2)
            row['speedup_ceiling'] = round(rows[0]['wall_s'] / max(row['cpu_bound_s'], rows[0]['wall_s'] / row['forks']), 2)
        self.results['partner'] = rows

    # Scenario 4 ------------------------------------------------------------------------------------------

    def throttle(self):
        tenant = self.tenants[1]['id']
        calls = 2 * DEFENDER_LIST_LIMIT
        size = (calls - 1) * PAGE['defender'] + PAGE['defender'] // 2  # the last page short: exactly `calls` calls
        self.admin.call('POST', '/tenants/%s/incidents' % tenant, {'count': size})
        self.admin.call('PUT', '/limits', {'enabled': True})
        report = os.path.join(BUILD, 'report.json')
        vars_path = self.write_vars('throttle-vars.json', {'bench_api': 'defender', 'bench_tenant_id': tenant,
                                                           'retry_429': True})
        ideal = (math.ceil(calls / DEFENDER_LIST_LIMIT) - 1) * 60.0
        rows = []
        try:
            for way, command in (('a', self.playbook('fetch_collection.yml', vars_path)),
                                 ('c', [PYTHON, os.path.join(HERE, 'bare_fetch.py'), vars_path, report])):
                for _run in range(self.args.throttle_runs):
                    self.admin.call('POST', '/limits/reset')
                    watch = Arrivals(self.admin, 'GET /api/incidents')
                    run = self.once(command, report, watch=watch)
                    rows.append(self.throttle_row(way, size, ideal, run, api_phase(watch, calls)))
        finally:
            self.admin.call('PUT', '/limits', {'enabled': False})
            self.admin.call('POST', '/tenants/%s/incidents' % tenant, {'count': 100})
        self.results['throttle'] = rows

    @staticmethod
    def throttle_row(way, size, ideal, run, phase):
        got = run.get('report') or {}
        list_calls = run['routes'].get('GET /api/incidents', 0)
        served = list_calls - run['throttled']
        row = {'way': way, 'n': size, 'list_calls': list_calls, 'answered_calls': served,
               'throttled_429': run['throttled'], 'wall_s': run['wall_s'], 'ideal_s': ideal,
               'calls_per_min': round(served / run['wall_s'] * 60, 1),
               'rate_vs_allowed': round(ideal / run['wall_s'], 3) if ideal else None,
               'cpu_s': run['cpu_s'], 'ok': run['exit_code'] == 0 and got.get('count') == size}
        row.update(phase)
        if phase.get('api_span_s'):
            row['after_last_call_s'] = round(run['wall_s'] - phase['last_call_s'], 1)
        if way == 'a':
            row['http'] = got.get('http')
        say('  throttle (%s): %d calls, %d x 429, %.1f s (ideal %.0f s), %.0f%% of the allowed rate end to end, '
            '%s%% from the first call to the last  %s'
            % (way, list_calls, run['throttled'], run['wall_s'], ideal, 100 * (row['rate_vs_allowed'] or 0),
               '%.0f' % (100 * row['api_rate_vs_allowed']) if row.get('api_rate_vs_allowed') else '?',
               'ok' if row['ok'] else 'FAILED'))
        return row


def partner_row(forks, tenants, runs):
    last = runs[-1]
    row = {'forks': forks, 'tenants': tenants, 'runs': len(runs),
           'wall_s': round(statistics.median(run['wall_s'] for run in runs), 2),
           'wall_all_s': [run['wall_s'] for run in runs],
           'cpu_s': round(statistics.median(run['cpu_s'] for run in runs), 2),
           'sandbox_cpu_s': round(statistics.median(run['sandbox_cpu_s'] for run in runs), 2),
           'token_requests': last['token_requests'], 'api_calls': last['api_calls'],
           'requests': sum(last['routes'].values()),
           'peak_rss_mib': max(run['peak_rss_mib'] for run in runs), 'ok': all(run['exit_code'] == 0 for run in runs)}
    say('  partner, forks %2d: %6.2f s  CPU %5.2f s + sandbox %5.2f s  tokens %d  API calls %d  RSS %6.1f MiB  %s'
        % (forks, row['wall_s'], row['cpu_s'], row['sandbox_cpu_s'], row['token_requests'], row['api_calls'],
           row['peak_rss_mib'], 'ok' if row['ok'] else 'FAILED'))
    return row


def fetch_row(size, api, way, runs):
    last = runs[-1]
    row = {
        'n': size, 'api': api, 'way': way, 'runs': len(runs),
        'wall_s': round(statistics.median(run['wall_s'] for run in runs), 2),
        'wall_all_s': [run['wall_s'] for run in runs],
        'cpu_s': round(statistics.median(run['cpu_s'] for run in runs), 2),
        'api_calls': last['api_calls'], 'expected_calls': math.ceil(size / PAGE[api]),
        'token_requests': last['token_requests'],
        'peak_rss_mib': max(run['peak_rss_mib'] for run in runs),
        'count': (last.get('report') or {}).get('count'),
        'ok': all(run['exit_code'] == 0 and (run.get('report') or {}).get('count') == size for run in runs),
    }
    if way == 'a' and last.get('report'):
        row['http'] = last['report'].get('http')
        row['paced_s'] = statistics.median((run.get('report') or {}).get('http', {}).get('paced_seconds', 0)
                                           for run in runs)
    say('  fetch N=%-5d %-8s (%s): %6.2f s  CPU %5.2f s  calls %3d (ideal %d)  tokens %d  RSS %6.1f MiB  %s'
        % (size, api, way, row['wall_s'], row['cpu_s'], row['api_calls'], row['expected_calls'],
           row['token_requests'], row['peak_rss_mib'], 'ok' if row['ok'] else 'FAILED'))
    return row


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


# Output -------------------------------------------------------------------------------------------------

WAYS = {'a': 'incident_info', 'b': 'uri loop', 'c': 'bare requests'}


def markdown(results, meta):
    lines = ['Measured %s on %s (%d cores), %s, ansible-core %s; fetch and partner figures: median of %d runs, (b) at '
             'N ≥ 1,000: %d run(s); throttling: %d run(s) of each way.' % (
                 meta['date'], meta['host'], meta['cores'], meta['python'], meta['ansible_core'], meta['runs'],
                 meta['slow_runs'], meta['throttle_runs']),
             '', 'Load average (1 min) before each run: median %s, highest %s.' % (meta['load_median'], meta['load_max']),
             '']
    for name, table in (('fetch', fetch_table), ('tasks20', tasks20_table), ('partner', partner_table),
                        ('throttle', throttle_table)):
        if results.get(name):
            lines += table(results) + ['']
    return '\n'.join(lines)


def fetch_table(results):
    lines = ['**1. Fetch N incidents** (wall time and CPU = median; CPU = user + system of the whole process tree; '
             'RSS = its peak; paced = what (a) waited to stay below the Defender API\'s documented 50 list calls a '
             'minute)', '',
             '| N | API | way | wall s | vs (c) | CPU s | paced s | API calls (ideal) | token requests | peak RSS MiB | all read |',
             '|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|']
    floor = {(r['n'], r['api']): r['wall_s'] for r in results['fetch'] if r['way'] == 'c'}
    for r in results['fetch']:
        base = floor.get((r['n'], r['api']))
        lines.append('| %d | %s | (%s) %s | %.2f | %s | %.2f | %s | %d (%d) | %d | %.0f | %s |' % (
            r['n'], r['api'], r['way'], WAYS[r['way']], r['wall_s'], '%.1f×' % (r['wall_s'] / base) if base else '',
            r.get('cpu_s', 0), '%.1f' % r['paced_s'] if 'paced_s' in r else '', r['api_calls'], r['expected_calls'],
            r['token_requests'], r['peak_rss_mib'], 'yes' if r['ok'] else 'NO'))
    return lines + ['', 'ansible-playbook alone (a play with one `debug` task) takes %.2f s here; it is part of every '
                        '(a) and (b) figure.' % results.get('startup_s', 0)]


def tasks20_table(results):
    lines = ['**2. 20 API tasks in one play, one tenant**', '',
             '| sign-in | wall s | token requests | API calls | ok |', '|---|---:|---:|---:|---|']
    labels = {'auth': '`token` once, `auth` reused', 'cache': '`token_cache_path`', 'none': 'neither'}
    for r in results['tasks20']:
        lines.append('| %s | %.2f | %d | %d | %s |' % (
            labels[r['mode']], r['wall_s'], r['token_requests'], r['api_calls'], 'yes' if r['ok'] else 'NO'))
    return lines


def partner_table(results):
    lines = ['**3. Partner scale: 50 tenants as hosts, 100 ms latency on every request** (CPU: user + system; '
             'ceiling: the speed-up the cores allow, forks 1\'s wall time ÷ (all CPU ÷ cores))', '',
             '| forks | wall s | speed-up vs forks 1 | CPU s: ansible + modules | CPU s: sandbox | ceiling | '
             'token requests | API calls | peak RSS MiB | ok |',
             '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|']
    for r in results['partner']:
        lines.append('| %d | %.2f | %.1f× | %.1f | %.1f | %s | %d | %d | %.0f | %s |' % (
            r['forks'], r['wall_s'], r['speedup'], r.get('cpu_s', 0), r.get('sandbox_cpu_s', 0),
            '%.1f×' % r['speedup_ceiling'] if 'speedup_ceiling' in r else '', r['token_requests'], r['api_calls'],
            r['peak_rss_mib'], 'yes' if r['ok'] else 'NO'))
    return lines


def throttle_table(results):
    lines = ['**4. Throttling: Defender API limits on (50 list calls per 60 s, real time)** (end to end: ideal ÷ '
             'wall; first → last call: when the sandbox saw them, against the earliest the limit allows the last one '
             'given the client\'s own pace in the first window)', '',
             '| way | N | list calls | 429s | wall s | ideal s | ideal ÷ wall | first → last call s | its ideal s | '
             'rate vs allowed, first → last call | after the last call s | ok |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|']
    for r in results['throttle']:
        phase = '| | |'
        if r.get('api_span_s'):
            phase = '%.1f | %.1f | %.0f%% | %.1f' % (r['api_span_s'], r['api_ideal_s'], 100 * r['api_rate_vs_allowed'],
                                                     r['after_last_call_s'])
        lines.append('| (%s) %s | %d | %d | %d | %.1f | %.0f | %.0f%% | %s | %s |' % (
            r['way'], WAYS[r['way']], r['n'], r['list_calls'], r['throttled_429'], r['wall_s'], r['ideal_s'],
            100 * (r['rate_vs_allowed'] or 0), phase, 'yes' if r['ok'] else 'NO'))
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
            'slow_runs': args.slow_runs, 'throttle_runs': args.throttle_runs,
            'load_median': round(statistics.median(bench.loads), 2) if bench.loads else None,
            'load_max': round(max(bench.loads), 2) if bench.loads else None,
            'total_s': round(time.monotonic() - started, 1)}
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
    failed = [row for rows in bench.results.values() if isinstance(rows, list) for row in rows if not row.get('ok')]
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
