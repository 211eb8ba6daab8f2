"""cmklab's faces: the Textual console (``console.app``) and the headless CLI (``console.cli``).

Both render engine state and call the engine facade; neither decides a rule.
"""
