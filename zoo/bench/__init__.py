"""The benchmark: suites -> runner -> results files -> leaderboard (markdown, HTML, plots)."""
