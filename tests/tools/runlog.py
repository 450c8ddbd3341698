"""A test run's log, and what failed in it, where CI shows it: at the end.

  runlog.py tee LOG        copy standard input to standard output, and to LOG
                           with each line prefixed by the minutes and seconds
                           since the start (colours stripped)
  runlog.py failures LOG   print, briefly, each task that failed in LOG: when,
                           in which play, which task, and its first message lines

CI keeps only the tail of a run's output, where molecule prints its recap and
not the assertion that failed; `make molecule` prints this summary last.
"""

import re
import sys
import time

ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')
# molecule frames ansible's output: "  │ ", "  ┃ " and the like
FRAME = re.compile(r'^\s*[\u2502\u2503\u250a\u250b|]\s?')
STAMP = re.compile(r'^(\d+:\d\d) (.*)$')
FAILED = re.compile(r'^(fatal|failed): \[([^\]]+)\]')
HEADING = re.compile(r'^(PLAY|TASK) \[(.*)\]')
# the lines of a failure worth reading first
DETAIL = re.compile(r'^\s*(assertion|msg|stderr|stdout|cmd|fail_msg|rc|delta):')


def clean(line):
    return FRAME.sub('', ANSI.sub('', line.rstrip('\n')))


def tee(path, source=sys.stdin, sink=sys.stdout, clock=time.monotonic):
    start = clock()
    with open(path, 'w', encoding='utf-8') as log:
        for line in source:
            sink.write(line)
            sink.flush()
            elapsed = int(clock() - start)
            log.write('%d:%02d %s\n' % (elapsed // 60, elapsed % 60, clean(line)))
            log.flush()


def failures(lines, detail_lines=4, width=150, continued=24):
    """One short block per failed task: [time] play / task / host, then details
    (a long value, which the YAML callback wraps onto deeper-indented lines,
    keeps up to `continued` of them: a trial's report is read from here)."""
    play = task = None
    blocks = []
    lines = list(lines)
    for index, raw in enumerate(lines):
        match = STAMP.match(raw)
        when, text = match.groups() if match else ('?', raw)
        text = text.strip()
        heading = HEADING.match(text)
        if heading:
            if heading.group(1) == 'PLAY':
                play = heading.group(2)
            else:
                task = heading.group(2)
            continue
        failed = FAILED.match(text)
        if not failed or '...ignoring' in ''.join(lines[index + 1:index + 2]):
            continue
        block = ['[%s] %s / %s / %s' % (when, play, task, failed.group(2))]
        details, key_indent, extra = 0, None, 0
        for follow in lines[index + 1:]:
            follow_match = STAMP.match(follow)
            follow = (follow_match.group(2) if follow_match else follow).rstrip()
            if HEADING.match(follow.strip()) or FAILED.match(follow.strip()) or 'PLAY RECAP' in follow:
                break
            indent = len(follow) - len(follow.lstrip())
            if DETAIL.match(follow):
                if details >= detail_lines:
                    break
                details, key_indent, extra = details + 1, indent, 0
                block.append('    ' + follow.strip()[:width])
            elif key_indent is not None and indent > key_indent and follow.strip() and extra < continued:
                extra += 1
                block.append('      ' + follow.strip()[:width])
            else:
                key_indent = None
        blocks.append(block)
    return blocks


def main(argv):
    if len(argv) != 3 or argv[1] not in ('tee', 'failures'):
        sys.stderr.write(__doc__)
        return 2
    if argv[1] == 'tee':
        # whatever the locale, and whatever bytes the run prints: never stop the run
        sys.stdin.reconfigure(encoding='utf-8', errors='replace')
        sys.stdout.reconfigure(encoding='utf-8', errors='replace')
        tee(argv[2])
        return 0
    with open(argv[2], encoding='utf-8', errors='replace') as log:
        blocks = failures(log)
    print('== what failed (%s) ==' % argv[2])
    for block in blocks[-3:] or [['no failed task in the log: see the errors above']]:
        print('\n'.join(block))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
