"""webglm.contriever"""
