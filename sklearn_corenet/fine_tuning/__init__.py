"""fine_tuning"""
