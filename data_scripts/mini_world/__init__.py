"""The offline mini world: a mini benchmark and a mini CLIP built from Debian/PyPI sources only.

    python -m data_scripts.mini_world.build            # mini benchmark -> cocoop_lib/assets/mini_world
    python -m data_scripts.mini_world.build --check    # rebuild in a temp folder, compare the manifest
    python -m data_scripts.mini_world.pretrain         # pretrain the mini CLIP (resumable)
    python -m data_scripts.mini_world.export CKPT      # checkpoint -> cocoop_lib/assets/mini_clip

See docs/mini_world.md for what is built from what, and the measurements.
"""
