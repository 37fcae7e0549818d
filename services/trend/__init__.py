"""The trend service: observations -> annual indicators per series -> Article 8 compliance states and
alerts (rules in `_rules`, indicator judgements in `_judge`, statistics in `_stats`)."""

from greenwatch.services.trend._alerts import alerting_change, data_gap
from greenwatch.services.trend._annual import Annual, annual_indicators
from greenwatch.services.trend._rules import (
    SERIES_PRIORITY,
    Evaluation,
    Rules,
    choose_series,
    evaluate_area,
    evaluate_national,
    is_excluded,
    national_totals,
)
from greenwatch.services.trend._service import NATIONAL, TrendService
from greenwatch.services.trend._stats import MannKendall, bootstrap_se_median, mann_kendall, theil_sen

__all__ = [
    "NATIONAL",
    "SERIES_PRIORITY",
    "Annual",
    "Evaluation",
    "MannKendall",
    "Rules",
    "TrendService",
    "alerting_change",
    "annual_indicators",
    "bootstrap_se_median",
    "choose_series",
    "data_gap",
    "evaluate_area",
    "evaluate_national",
    "is_excluded",
    "mann_kendall",
    "national_totals",
    "theil_sen",
]
