# grafana's state, tab-separated lines: `version <installed version of the grafana
# package>` (none when not installed), `db yes` when its database @DB@ exists (it was
# started once), `dashboard <file>` for each *.json in @DASHBOARDS_DIR@.
dpkg-query -W -f='${db:Status-Abbrev}\t${Version}\n' grafana 2>/dev/null | sed -n 's/^ii *\t/version\t/p'
[ -s @DB@ ] && printf 'db\tyes\n'
for f in @DASHBOARDS_DIR@/*.json; do [ -f "$f" ] && printf 'dashboard\t%s\n' "${f##*/}"; done
true
