"""The method: the CAW-Conv network, the Forward-Forward loss and its regularizers, a training step and the trainer.

    trainer = Trainer(RunConfig(preset="classroom", epochs=5), callbacks=[...])   # ffviz/method/trainer.py
    trainer.fit()

model/ (the layer and the residual network), fast/ (speed tricks, each tested equal to its plain form), losses (with
the terms of ffviz/regularizers.py, the registry every part reads), step, trainer, evaluate, epoch_readings, augment,
distributed, device, control (steering a trainer in the same process), architecture (the network's arithmetic
without torch, which the server's limits use).

May import: the shared vocabulary at ffviz's top level (config, presets, records, regularizers, lazy) and
ffviz.data. Never ffviz.store, ffviz.runner, ffviz.server, ffviz.figures or pages: the trainer knows nothing about
where its records go (tests/test_layout.py holds this).
"""
