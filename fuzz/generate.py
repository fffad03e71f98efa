"""Draw batches of cases from the hypothesis strategies, reproducibly from a seed.

A batch is drawn by running a collecting ``@given`` function in the generate phase only: that
keeps hypothesis' generation quality (its distribution, edge-case bias) while the checking is done
in batches against the backends (see ``fuzz.observe``).
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st

from fuzz import strategies as S
from fuzz.observe import Case


@st.composite
def cases(draw: st.DrawFn, hotplug_rate: float = 0.5) -> Case:
    spec = draw(S.domain_specs())
    device = None
    if draw(st.floats(0, 1)) < hotplug_rate:
        device = draw(S.device_xml(spec.arch))
    return Case(xml=S.to_xml(spec), device=device)


def draw_batch(n: int, seed: int) -> list[Case]:
    out: list[Case] = []

    @hseed(seed)
    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(cases())
    def collect(case: Case) -> None:
        out.append(case)

    collect()
    return out
