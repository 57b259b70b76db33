#!/usr/bin/python3
"""bench/compare --plot: the run's comparisons as bars (operations per second, cqrs beside its
peer, log scale) and the latency spectra (latency by percentile: cqrs's whole curves from
`cqrs load --hgrm`, Redis's p50/p95/p99 as points), drawn by gnuplot into an SVG or a PNG.

usage: compare_plot.py RESULTS.jsonl SPECTRA_DIR OUTPUT.svg|png TITLE
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

# (label, cqrs row, peer system, peer row): the throughput comparisons of the table.
PAIRS = [
    ("durable writes\\nvs Redis always", "set durable", "redis", "set durable"),
    ("durable writes\\nvs PostgreSQL", "set durable", "postgresql", "set durable"),
    ("writes, no fsync\\nvs Redis", "set nosync", "redis", "set nosync"),
    ("Get\\nvs Redis GET", "get", "redis", "get"),
    ("Get\\nvs PostgreSQL", "get", "postgresql", "get"),
    ("Get, 1 client\\nvs Redis", "get 1x1", "redis", "get 1x1"),
]


def quote(text):
    """Text for a single-quoted gnuplot string: no substitution happens there (a double-quoted
    one runs `backquoted` text as a shell command), and a quote is written twice."""
    return text.replace("'", "''")


def title_lines(text, width=120):
    """The title as a double-quoted gnuplot string's contents, wrapped at `width`: without
    backquotes (gnuplot runs `backquoted` text in a double-quoted string as a shell command)."""
    words, lines, line = text.replace("`", "").replace("\\", "/").replace('"', "'").split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = (line + " " + word).strip()
    return "\\n".join(lines + [line])


def hgrm_points(path):
    """(1/(1-percentile), latency ms) of an HdrHistogram percentile file."""
    points = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and not line.startswith("#"):
                try:
                    value, percentile = float(parts[0]), float(parts[1])
                except ValueError:
                    continue  # the header
                if 0 < percentile < 1:
                    points.append((1 / (1 - percentile), value))
    return points


def main():
    results, spectra, output, title = sys.argv[1:5]
    rows = [json.loads(line) for line in open(results)]

    def find(system, row):
        return next((r for r in rows if r["system"] == system and r["row"] == row), None)

    with tempfile.TemporaryDirectory() as tmp:
        bars = os.path.join(tmp, "bars.dat")
        with open(bars, "w") as f:
            for label, ours, system, theirs in PAIRS:
                a, b = find("cqrs", ours), find(system, theirs)
                if a and b:
                    f.write('"%s" %s %s\n' % (label, a["per_sec"], b["per_sec"]))
        curves = []
        for path in sorted(glob.glob(os.path.join(spectra, "*.hgrm"))):
            data = os.path.join(tmp, "c%d.dat" % len(curves))
            with open(data, "w") as f:
                f.writelines("%s %s\n" % p for p in hgrm_points(path))
            curves.append((data, "cqrs " + os.path.basename(path)[:-5], "lines lw 2"))
        for path in sorted(glob.glob(os.path.join(spectra, "*.redis"))):
            data = os.path.join(tmp, "r%d.dat" % len(curves))
            with open(data, "w") as f:
                for line in open(path):
                    ms, p = map(float, line.split())
                    f.write("%s %s\n" % (1 / (1 - p), ms))
            curves.append((data, "redis " + os.path.basename(path)[:-6], "linespoints pt 7 dt 2"))
        terminal = ("svg size 1200,1000 dynamic font 'sans,11' background rgb 'white'"
                    if output.endswith(".svg") else "pngcairo size 1200,1000 font 'sans,10'")
        script = """
set terminal %s
set output '%s'
set multiplot layout 2,1 title "%s" font ',10'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set grid ytics
set ylabel 'operations per second (log)'
set key top right
set xtics nomirror font ',9'
plot '%s' using 2:xtic(1) title 'cqrs' lc rgb '#1a73e8', '' using 3 title 'peer' lc rgb '#9aa0a6'
unset style
set style data lines
set logscale xy
set xrange [1.5:200000]
set xtics ('50%%%%' 2, '90%%%%' 10, '99%%%%' 100, '99.9%%%%' 1000, '99.99%%%%' 10000, '99.999%%%%' 100000)
set xlabel 'percentile'
set ylabel 'latency, ms (log)'
set key outside right top font ',9'
set grid xtics ytics
plot %s
unset multiplot
""" % (terminal, output, title_lines(title), bars,
       ", ".join("'%s' using 1:2 with %s title '%s'" % (d, style, quote(t))
                 for d, t, style in curves) or "NaN notitle")
        path = os.path.join(tmp, "plot.gp")
        with open(path, "w") as f:
            f.write(script)
        r = subprocess.run(["gnuplot", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        if r.returncode != 0:
            sys.exit("gnuplot: " + r.stdout)


if __name__ == "__main__":
    main()
