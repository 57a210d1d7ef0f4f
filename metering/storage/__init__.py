"""Storage of readings: the monthly partitions of the readings table and the reads over it."""
