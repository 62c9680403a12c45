module mirror-reality/bench/api/loadgen

go 1.22
