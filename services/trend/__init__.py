"""The trend service: observations -> annual indicators -> Article 8 compliance states and alerts."""

from greenwatch.services.trend._rules import Annual, Rules, annual_indicators, evaluate, national
from greenwatch.services.trend._service import NATIONAL, TrendService

__all__ = ["NATIONAL", "Annual", "Rules", "TrendService", "annual_indicators", "evaluate", "national"]
