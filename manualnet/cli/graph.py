"""``python -m manualnet graph``: the graph ``manualnet.autograd`` records for the notes' MLP loss."""

from .common import positive_int


def add_command(commands):
    graph = commands.add_parser("graph", help="print the graph autograd records for the notes' MLP loss",
                                description="Print the grad_fn graph manualnet.autograd records for the study "
                                            "notes' MLP (784-256-10) and its cross-entropy loss.")
    graph.add_argument("--batch-size", type=positive_int, default=64, metavar="N",
                       help="samples in the batch (default 64)")
    graph.add_argument("--dot", action="store_true", help="print Graphviz DOT text instead (dot -Tsvg draws it)")
    graph.set_defaults(run=run_graph)


def run_graph(args):
    from manualnet.autograd import mlp_loss_graph

    graph = mlp_loss_graph(batch_size=args.batch_size)
    print(graph.to_dot() if args.dot else graph, end="" if args.dot else "\n")
    return 0
