#!/usr/bin/env bash
# Removes what killed test and benchmark runs left on the shared engines (a run going on beside
# this one is left alone). Used by `npm test` and `npm run bench:e2e`.
# - Each test harness makes a database mayfly_test_<id> and labels its Docker objects
#   mayfly.instance=test-<id>: a database nobody is connected to is a dead run's, and so are
#   objects whose database is gone.
# - The benchmark's baseline runs compose projects mayflybench-<pid>-...: a project whose pid is
#   not running is a dead run's.
source "$(dirname "$0")/lib.sh"
[ -n "${DATABASE_URL:-}" ] && exit 0

for db in $(su postgres -c "psql -qAtc \"SELECT datname FROM pg_database d WHERE datname LIKE 'mayfly\\_test\\_%' AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)\"" 2>/dev/null); do
  su postgres -c "psql -qc 'DROP DATABASE IF EXISTS $db'" >/dev/null 2>&1 || true
done
live="$(su postgres -c "psql -qAtc \"SELECT substr(datname, 13) FROM pg_database WHERE datname LIKE 'mayfly\\_test\\_%'\"" 2>/dev/null | tr '\n' ' ')"
dead() { awk -v live=" $live " '$2 ~ /^test-/ { id = substr($2, 6); if (index(live, " " id " ") == 0) print $1 }'; }
c="$(docker ps -a --filter label=mayfly.instance --format '{{.ID}} {{.Label "mayfly.instance"}}' | dead)"
if [ -n "$c" ]; then docker rm -f $c >/dev/null || true; fi
n="$(docker network ls --filter label=mayfly.instance --format '{{.ID}} {{.Label "mayfly.instance"}}' | dead)"
if [ -n "$n" ]; then docker network rm $n >/dev/null || true; fi
v="$(docker volume ls --filter label=mayfly.instance --format '{{.Name}} {{.Label "mayfly.instance"}}' | dead)"
if [ -n "$v" ]; then docker volume rm $v >/dev/null || true; fi

deadbench() { awk '{ split($2, p, "-"); if (p[1] == "mayflybench" && system("kill -0 " p[2] " 2>/dev/null") != 0) print $1 }'; }
c="$(docker ps -a --filter label=com.docker.compose.project --format '{{.ID}} {{.Label "com.docker.compose.project"}}' | deadbench)"
if [ -n "$c" ]; then docker rm -f -v $c >/dev/null || true; fi
n="$(docker network ls --filter label=com.docker.compose.project --format '{{.ID}} {{.Label "com.docker.compose.project"}}' | deadbench)"
if [ -n "$n" ]; then docker network rm $n >/dev/null || true; fi
v="$(docker volume ls --filter label=com.docker.compose.project --format '{{.Name}} {{.Label "com.docker.compose.project"}}' | deadbench)"
if [ -n "$v" ]; then docker volume rm $v >/dev/null || true; fi
exit 0
