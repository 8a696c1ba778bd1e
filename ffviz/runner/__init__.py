"""The runner: a run is a process of its own, started, queued and steered through its folder.

    manager = RunManager("runs")                      # ffviz/runner/manager.py: the queue and the bound on running
    run_id = manager.submit(RunConfig(preset="classroom", epochs=5))
    manager.control(run_id).pause()                   # ffviz/runner/steering.py: control.json, read at a batch
    trainer = Trainer(cfg, callbacks=[RunWriter(run_dir)])   # ffviz/runner/run_writer.py: the process's own side

launcher (the command and the scheduler), manager, steering, run_process (a run's own process: a trainer opened
from its folder, its heartbeat, how it ended), run_writer (the trainer's subscriber that writes the folder), sweep (a
grid of runs), memory, threads.

May import: ffviz.method, ffviz.store, ffviz.data, ffviz.figures' pure functions and the top-level vocabulary.
Never ffviz.server or pages (tests/test_layout.py).
"""
