"""webglm.scorer"""
