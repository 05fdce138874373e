"""The command line's reliability battery: outputs that cannot be written, kill -9 mid-export and mid-push, odd
training data, broken hub folders, offline downloads. Each case checks the documented exit code, the one `error:`
message naming the file and the problem, and that nothing half-written is left behind.

Covered elsewhere and not repeated: unreadable images and kill -9 during extraction (features/); kill -9 during
training, a NaN loss and a missing data folder (test_pretrain.py); pickles that run code, truncated weights, sha256
mismatches and unknown model names (test_loader.py, test_convert.py); `..` paths on the hub server and offline
downloads through the library (hub/).
"""
