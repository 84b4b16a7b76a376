"""``python -m drill``: the local scale-out drill (see ``python -m drill --help``)."""

if __name__ == "__main__":
    # Imported here, not at the top: the drill's worker processes are spawned, and each one re-imports this
    # module (as ``__mp_main__``); they must not pay for moto and the rest of the parent's imports.
    from drill.scaleout.cli import main

    raise SystemExit(main())
