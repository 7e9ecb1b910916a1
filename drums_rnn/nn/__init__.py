"""Network pieces shared by the model families, at the foundations' level: the LSTM and attention
time loops with hand-written backpropagation, compact one-hot inputs, weight initialisers, and named
weights in TF1 checkpoint files. TensorFlow and numpy only; imports nothing of the package but `errors`.
"""
