#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Parses reStructuredText files with docutils and prints every problem.

The kernel's own Sphinx extensions are not available outside a docs build,
so their directives are accepted without being expanded: what is checked is
the rst itself (tables, lists, sections, roles).
"""

import io
import sys

import docutils.core
from docutils.parsers.rst import Directive, directives


class Accepted(Directive):
    has_content = True
    optional_arguments = 10
    final_argument_whitespace = True
    option_spec = {k: directives.unchanged for k in
                   ("doc", "functions", "export", "internal",
                    "identifiers", "no-identifiers")}

    def run(self):
        return []


def main():
    directives.register_directive("kernel-doc", Accepted)
    bad = 0
    for path in sys.argv[1:]:
        out = io.StringIO()
        docutils.core.publish_doctree(
            open(path).read(), source_path=path,
            settings_overrides={"warning_stream": out, "report_level": 2})
        if out.getvalue():
            print(out.getvalue(), end="")
            bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main())
