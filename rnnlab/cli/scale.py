"""`rnnlab export` and `rnnlab import`: hand a model to PyTorch as a .pt file, and take it back."""
from __future__ import annotations


def register(sub):
    """Add the ``export`` and ``import`` sub-commands to ``sub`` (the sub-parsers of
    ``rnnlab.cli.build_parser``)."""
    p = sub.add_parser("export", help="write a model as a PyTorch .pt file (state_dict + configuration)",
                       description="Write a trained model as a .pt file for PyTorch: its state_dict (torch "
                       "parameter names) and a JSON string with the model configuration, the vocabulary, the "
                       "data options and the word classes. torch.load(FILE, weights_only=True) reads it; "
                       "rnnlab.torch_io.load_pt builds the torch module. Needs torch.")
    p.add_argument("--model", required=True, metavar="DIR", help="model directory (or .npz checkpoint)")
    p.add_argument("--torch", required=True, metavar="FILE.pt", help="the .pt file to write")
    p.set_defaults(func=run_export)

    p = sub.add_parser("import", help="turn a PyTorch .pt file of rnnlab's back into a model directory",
                       description="Read a .pt file written by 'rnnlab export' (or trained further in PyTorch, "
                       "e.g. by examples/distributed_train.py) and write an rnnlab model directory (best.npz) "
                       "that evaluate, generate and diagnose accept. Needs torch.")
    p.add_argument("--torch", required=True, metavar="FILE.pt", help="the .pt file to read")
    p.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    p.add_argument("--force", action="store_true", help="replace a model already in DIR")
    p.set_defaults(func=run_import)


def run_export(args) -> int:
    """``rnnlab export``: ``rnnlab.torch_io.export_model``; prints what was written and returns 0."""
    from ..torch_io import export_model

    meta = export_model(args.model, args.torch)
    m = meta["model"]
    print(f"wrote {args.torch}: {m['cell']} x{m['num_layers']}, hidden {m['hidden_size']}, vocabulary "
          f"{m['vocab_size']}, {m['output']} output, {m['dtype']}")
    return 0


def run_import(args) -> int:
    """``rnnlab import``: ``rnnlab.torch_io.import_model``; prints the checkpoint written and returns 0."""
    from ..torch_io import import_model

    path = import_model(args.torch, args.out, force=args.force)
    print(f"wrote {path}")
    return 0
