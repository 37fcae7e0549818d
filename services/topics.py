"""Logical topic names and message keys. Deployments add a prefix (bus.topic_prefix).

| topic          | message kinds                          | key         | why that key                               |
|----------------|----------------------------------------|-------------|--------------------------------------------|
| scenes         | scene-discovered, scene-superseded     | scene id    | one scene's events stay in order           |
| tasks          | tile-task                              | scene id    | a scene's tasks spread by scene            |
| results        | tile-result                            | area id     | one merger owns each area (single writer)  |
| observations   | observation, annual-composite          | area id     | one trend worker owns each area            |
| states         | compliance-state                       | area id     | latest state per area (compactable)        |
| alerts         | alert                                  | area id     | per-area order for subscribers             |
| clms-tasks     | clms tile task (services/clms)         | scene id    | the official layers' own worker group      |
| clms-results   | clms tile result (services/clms)       | area id     | one official-series merger per area        |
| composite-tasks| composite-task (services/composite)    | tile/year   | one compositor per tile-year at a time     |
Every topic has a dead-letter companion `<topic>.dlq`.
"""

SCENES = "scenes"
TASKS = "tasks"
RESULTS = "results"
OBSERVATIONS = "observations"
STATES = "states"
ALERTS = "alerts"

CLMS_TASKS = "clms-tasks"
CLMS_RESULTS = "clms-results"

COMPOSITE_TASKS = "composite-tasks"  # per-pixel season composites; their annual-composite events go to OBSERVATIONS

ALL = (SCENES, TASKS, RESULTS, OBSERVATIONS, STATES, ALERTS, CLMS_TASKS, CLMS_RESULTS, COMPOSITE_TASKS)
