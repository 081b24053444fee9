//! `ollabench compare`: reads result files (ollabench's and the PowerShell suite's), and
//! compares runs: tables, statistics, scaling, trends and the regression gate.
