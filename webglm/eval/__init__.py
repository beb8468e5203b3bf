"""webglm.eval"""
