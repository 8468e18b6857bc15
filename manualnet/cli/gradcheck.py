"""``python -m manualnet gradcheck``: every operation's backward against finite differences, one row each."""

import warnings

from .common import EXIT_ERROR, non_negative_int


def add_command(commands):
    gradcheck = commands.add_parser("gradcheck", help="check every operation's backward against finite "
                                                      "differences",
                                    description="Gradient-check every operation in the package.")
    gradcheck.add_argument("--seed", type=non_negative_int, default=0, metavar="N",
                           help="seed for the sample inputs and parameters (default 0)")
    gradcheck.set_defaults(run=run_gradcheck)


def run_gradcheck(args):
    from manualnet.testing.catalogue import run_all
    from manualnet.testing.gradcheck import ATOL, EPS, RTOL, GradcheckWarning
    from manualnet.testing.reports import format_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradcheckWarning)   # a vacuous check already shows as FAIL
        results = run_all(args.seed)
    print(f"gradient checks in float64: central differences, eps={EPS:g}, "
          f"pass when |analytic - numeric| <= {ATOL:g} + {RTOL:g}*|numeric|")
    header = ("operation", "input max rel err", "parameters max rel err", "status")
    rows = [(result.operation, _error(result.input_error), _error(result.parameter_error),
             "ok" if result.passed else "FAIL") for result in results]
    print("\n".join(format_table(header, rows)))
    failed = [result for result in results if not result.passed]
    for result in failed:
        print(f"\n{result.details}")
    if failed:
        print(f"\n{len(failed)} of {len(results)} operations FAILED the gradient check")
        return EXIT_ERROR
    print(f"\nall {len(results)} operations passed")
    return 0


def _error(value):
    return "-" if value is None else f"{value:.1e}"
