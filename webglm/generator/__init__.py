"""webglm.generator"""
