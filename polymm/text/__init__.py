"""How polymm writes for people: the one formatter of numbers, money and venue text (`format`), and the names of
markets for log lines and views (`catalog`). Below the controller, so the service's own log lines and the views
share one way of writing; it imports nothing of polymm but the domain's types."""
