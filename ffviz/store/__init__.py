"""The run store: a run's folder on disk, written crash-safely and read back by anyone, even while the run trains.

    folder = RunFolder(run_dir)          # ffviz/store/folder.py: every file of a run, named once
    reader = open_reader(run_dir)        # ffviz/store/runs.py: config, meta, records, snapshots, checkpoints
    reader = places.open_run(run_id)     # ffviz/store/places.py: where runs live (local, uploaded, shipped)
    run_state(run_dir)                   # ffviz/store/runstate.py: the one authority on a run's state
    rows = scan_runs({...})              # ffviz/store/catalog.py: one summary row per run folder
    import_upload(data, dest)            # ffviz/store/archive.py: runs in and out as files (uploads checked)
    enforce_retention(root)              # ffviz/store/retention.py: the oldest runs beyond the bound go

storage (atomic files, JSON lines), untrusted (checks for files from outside), filecache, checkpoint (weights-only
torch files), runs (the one reader), places (where runs live, the repository root), runstate, progress (where a run
stands, its picker label), run_checks (a run's files agree), catalog, archive, retention. Torch-free except
checkpoint's loading, which imports it on first use.

May import: the shared vocabulary at ffviz's top level (config, modes, presets, records, regularizers, env, lazy) and
ffviz.data.
Never ffviz.method (the trainer), ffviz.runner, ffviz.server, ffviz.figures or pages (tests/test_layout.py).
"""
