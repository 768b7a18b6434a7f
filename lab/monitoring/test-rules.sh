#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Check the lab's alerting configuration with the tools of the Debian packages
# prometheus and prometheus-alertmanager; exit non-zero on the first failure:
#   promtool check rules   every rendered rules file (rules/<profile>/*.yml)
#   promtool test rules    every unit test file (tests/*.yml), one per profile
#   amtool check-config    alertmanager.yml
# Usage: lab/monitoring/test-rules.sh
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
cd "$here"

for tool in promtool amtool; do
    command -v "$tool" >/dev/null || { echo "test-rules: $tool not found (apt-get install prometheus prometheus-alertmanager)" >&2; exit 2; }
done

shopt -s nullglob
rules=(rules/*/*.yml)
tests=(tests/*.yml)
[[ ${#rules[@]} -gt 0 && ${#tests[@]} -gt 0 ]] || { echo "test-rules: no rules or no tests under $here" >&2; exit 2; }

promtool check rules "${rules[@]}"
promtool test rules "${tests[@]}"
amtool check-config alertmanager.yml
echo "test-rules: ${#rules[@]} rules files, ${#tests[@]} test files, alertmanager.yml: OK"
