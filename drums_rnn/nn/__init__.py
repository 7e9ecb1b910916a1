"""Network pieces shared by the model families: the LSTM and attention time loops with
hand-written backpropagation, compact one-hot inputs, weight initialisers. TensorFlow and numpy only.
"""
