"""fetch.png: scenario 1's median wall times per N, API and way (run by bench/run.py with .venv/bench).

    python chart.py DATA.json OUT.png
"""

import json
import sys

import matplotlib

matplotlib.use('Agg')
# pylint: disable=wrong-import-position
import matplotlib.pyplot as plt  # noqa: E402

WAYS = {('a', 'auto'): '(a) incident_info, in-process', ('a', 'module'): '(a) incident_info, module',
        ('b', None): '(b) uri loop', ('c', None): '(c) bare requests'}


def main():
    with open(sys.argv[1], encoding='utf-8') as handle:
        rows = json.load(handle)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for axis, api in zip(axes, ('graph', 'defender')):
        for (way, path), label in WAYS.items():
            points = sorted((row['n'], row['wall_s']) for row in rows
                            if row['api'] == api and row['way'] == way and row.get('path') == path)
            if points:
                axis.plot([p[0] for p in points], [p[1] for p in points], marker='o', label=label)
        axis.set_xscale('log')
        axis.set_yscale('log')
        axis.set_title('%s API' % api.capitalize())
        axis.set_xlabel('incidents fetched (N)')
        axis.grid(True, which='both', alpha=0.3)
    axes[0].set_ylabel('wall time, s (median)')
    axes[0].legend()
    figure.suptitle('make bench, scenario 1: fetch N incidents against the sandbox')
    figure.tight_layout()
    figure.savefig(sys.argv[2], dpi=100)


if __name__ == '__main__':
    main()
