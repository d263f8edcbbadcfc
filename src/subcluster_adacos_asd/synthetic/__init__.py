"""A synthetic data set in the DCASE 2021 task 2 development layout, made of machine-like sounds.

Why it exists: the project must run end to end without the (large, separately licensed) DCASE
recordings, on data that poses the same problem: several machine types, sections that are
different machines, attribute information in the file names, a source domain with many normal
training clips and a target domain with exactly three, and subtle anomalies of several kinds in
the test clips. Each sound is a small physical model (harmonics of a rotation speed, gear mesh
with shaft sidebands, valve open/close events with flow noise, slide-rail strokes, ...), passed
through the section's housing resonances, the microphone of the domain, and mixed with the
domain's background noise.

What makes it a fair test bed rather than a toy:

* The normal sounds vary from clip to clip (speed, wander, levels, background), and each section
  has several attribute values that move the sound audibly, so the normal distribution is wide.
* The target domain is shifted for real: its attribute value lies outside the source range
  (another speed, load, valve pattern, ...) and it has its own microphone colouring and
  background, with three training clips only.
* Anomalies are subtle and of several kinds (bearing impulses, shifted harmonics, rubbing noise,
  irregular timing, leaks, ...) with a random severity; several of them hardly change a clip's
  average spectrum, so a detector on the mean log-mel stays far from perfect while the sections
  and attributes stay easy to tell apart.

Determinism: every random number of a clip comes from a generator seeded with the global seed and
the clip's identity (its partition key), every section's machine from the seed and the section's
identity; the generation order and any parallelism therefore never change a byte.
"""

from subcluster_adacos_asd.synthetic.machines import MODELS, SoundModel
from subcluster_adacos_asd.synthetic.plan import (
    DOMAINS,
    MACHINE_TYPES,
    ClipSpec,
    SyntheticSettings,
    clip_manifest,
    plan_clips,
)
from subcluster_adacos_asd.synthetic.render import (
    _environment,
    _filters,
    _section_machine,
    render_clip,
)
from subcluster_adacos_asd.synthetic.signals import *  # noqa: F403  the building blocks
from subcluster_adacos_asd.synthetic.signals import _Clip

__all__ = [
    "DOMAINS", "MACHINE_TYPES", "MODELS", "ClipSpec", "SoundModel", "SyntheticSettings",
    "clip_manifest", "plan_clips", "render_clip", "_Clip", "_environment", "_filters",
    "_section_machine",
]
